"""The separate ``/metrics`` listener (``[plugins.metrics] listen``), run by the API process.

It is a second Hypercorn server on the gateway's event loop, serving nothing but ``/metrics``, so
Prometheus can scrape on a private address while the public listener never exposes it. The socket
is bound in ``startup``, so a taken port stops start-up with a clear message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response

from postgate import Gateway
from postgate.server import plugin_listening_socket

from .exporter import CONTENT_TYPE, Exporter

log = logging.getLogger("postgate.metrics")
#: Hypercorn's own lines for this listener: errors only (its "Running on …" would read like the API's).
server_log = logging.getLogger("postgate.metrics.listener")
server_log.setLevel(logging.WARNING)


def metrics_app(gateway: Gateway, exporter: Exporter) -> Quart:
    app = Quart("postgate_metrics")

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(await exporter.render(gateway), content_type=CONTENT_TYPE)

    return app


class MetricsListener:
    """Hypercorn serving :func:`metrics_app` on an already bound socket until :meth:`stop`."""

    def __init__(self, gateway: Gateway, exporter: Exporter, host: str, port: int) -> None:
        self._socket = plugin_listening_socket("metrics", host, port)
        self.address: tuple[str, int] = self._socket.getsockname()[:2]
        self._app = metrics_app(gateway, exporter)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        config = Config()
        config.bind = [f"fd://{self._socket.detach()}"]  # Hypercorn owns the socket from here
        config.accesslog = None
        config.errorlog = server_log
        self._task = asyncio.create_task(serve(self._app, config, shutdown_trigger=self._stop.wait),
                                         name="postgate-metrics-listener")
        self._task.add_done_callback(self._report)
        host, port = self.address
        log.info("metrics served at http://%s/metrics", f"[{host}]:{port}" if ":" in host else f"{host}:{port}")

    @staticmethod
    def _report(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the metrics listener stopped", exc_info=task.exception())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)
