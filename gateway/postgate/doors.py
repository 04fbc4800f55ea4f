"""Entry doors that are servers of their own (an SMTP listener): started with the HTTP server.

``register_ingress`` factories return a Quart blueprint, which the app mounts, or an object with
async ``start()`` and ``stop()``. :class:`Doors` holds the latter for one serving process: they
start once the gateway has started (so they can hand messages to ``gateway.accept``) and stop
before it stops (so a message being accepted finishes first). A worker-only process
(``postgate worker``) builds no app, so it never opens them.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Protocol, runtime_checkable

from .settings import ConfigError

log = logging.getLogger("postgate.doors")


@runtime_checkable
class ServerDoor(Protocol):
    """An entry door that listens on its own (not through the HTTP app)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def check_door(name: str, door: Any) -> ServerDoor:
    """``door`` if it has async ``start()``/``stop()``, else a :class:`ConfigError` naming it."""
    for method in ("start", "stop"):
        if not inspect.iscoroutinefunction(getattr(door, method, None)):
            raise ConfigError(
                f"ingress {name!r} returned {type(door).__name__}, which is neither a Quart Blueprint "
                f"nor an object with async start() and stop() (its {method}() is missing or not async)"
            )
    return door


class Doors:
    """The server doors of one app, started and stopped together, in registration order."""

    def __init__(self) -> None:
        self.doors: list[tuple[str, ServerDoor]] = []
        self.running: list[tuple[str, ServerDoor]] = []

    def add(self, name: str, door: Any) -> None:
        self.doors.append((name, check_door(name, door)))

    async def start(self) -> None:
        """Start every door; if one fails, stop those already started and raise its error."""
        for name, door in self.doors:
            try:
                await door.start()
            except BaseException:
                await self.stop()
                raise
            self.running.append((name, door))

    async def stop(self) -> None:
        """Stop the started doors, last first; an error is logged and the others still stop."""
        running, self.running = self.running, []
        for name, door in reversed(running):
            try:
                await door.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                log.exception("error while stopping the %s entry door", name)
