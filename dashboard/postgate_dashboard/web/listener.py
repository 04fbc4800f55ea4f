"""The dashboard on a listener of its own (``[plugins.dashboard] listen``), apart from the API.

A small Quart app holding only the dashboard, served by Hypercorn in the gateway's event loop
from ``startup`` to ``shutdown``. The API's listener then has no dashboard routes at all, so
the API can face the internet while the dashboard listens on a private address.
"""

from __future__ import annotations

import asyncio
import logging

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Blueprint, Quart, redirect

from postgate.server import plugin_listening_socket

log = logging.getLogger("postgate.dashboard")


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as a pair; raises ``ValueError`` otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]"), int(port)


class DashboardListener:
    """Serves ``blueprint`` on ``address`` until :meth:`stop`."""

    def __init__(self, blueprint: Blueprint, mount: str, address: str) -> None:
        self.host, self.port = split_address(address)
        self.app = Quart("postgate-dashboard")
        self.app.register_blueprint(blueprint)
        self.app.add_url_rule("/", "root", lambda: redirect(mount + "/", 303))
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = Config()
        # bound here and now, so that a taken port stops start-up (from its task, Hypercorn would
        # only log it, and the gateway would run on without its dashboard)
        listening = plugin_listening_socket("dashboard", self.host, self.port)
        config.bind = [f"fd://{listening.detach()}"]  # Hypercorn owns it from here
        config.accesslog = None
        # Postgate's own handler writes Hypercorn's lines; "-" would add a stderr handler of
        # Hypercorn's, and its plain lines would break a JSON log (and show "Running on" twice)
        config.errorlog = logging.getLogger("hypercorn.error")
        self._stopping.clear()
        self._task = asyncio.create_task(serve(self.app, config, shutdown_trigger=self._stopping.wait))
        self._task.add_done_callback(self._report)
        log.info("dashboard: listening on http://%s:%d", self.host, self.port)

    @staticmethod
    def _report(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("dashboard: its listener stopped: %s", task.exception())

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(self._task, 10)
        except Exception:  # noqa: BLE001 - reported by _report; shutting down either way
            pass
        self._task = None
