"""Roll-ups written behind the recording path: events are gathered as they are recorded and a
background task adds them up and writes them in one transaction about once a second (or as soon
as :data:`FLUSH_EVENTS` are waiting). Recording an event then costs a list append, and the
roll-ups one commit a second instead of one per call.

What is waiting is written on shutdown. A process that dies loses at most the last second of
roll-ups (never events): ``postgate dashboard backfill`` rebuilds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from postgate import Event

from .derive import recipient_domains, tally
from .mx_directory import directory_of
from .writer import apply

log = logging.getLogger("postgate.dashboard")

#: Seconds between writes.
FLUSH_SECONDS = 1.0
#: Events waiting that start a write at once.
FLUSH_EVENTS = 5000
#: Events kept for a retry while the database refuses writes; beyond it the oldest are dropped
#: (and the log says to run the backfill).
MAX_WAITING = 200_000


class RollupBuffer:
    """The events of one gateway waiting to be rolled up."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = weakref.ref(gateway)
        self.waiting: list[Event] = []
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.closing = False

    def add(self, events: list[Event]) -> None:
        self.waiting.extend(events)
        if len(self.waiting) >= FLUSH_EVENTS:
            self.wake.set()
        if not self.closing and (self.task is None or self.task.done()):
            self.task = asyncio.get_running_loop().create_task(self._run(), name="postgate-dashboard-rollups")

    async def _run(self) -> None:
        while not self.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), FLUSH_SECONDS)
            self.wake.clear()
            if self.closing:
                return
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - kept for the next round; logged
                log.exception("writing the dashboard roll-ups failed; retrying in %.0f s", FLUSH_SECONDS)

    async def flush(self) -> None:
        """Write every event waiting now (in the order recorded)."""
        async with self.lock:
            events, self.waiting = self.waiting, []
            gateway = self.gateway()
            if not events or gateway is None:
                return
            try:
                await apply(gateway, tally(events, hosted=await hosted_providers(gateway, events)))
            except BaseException:
                self.waiting[:0] = events
                if len(self.waiting) > MAX_WAITING:
                    dropped = len(self.waiting) - MAX_WAITING
                    del self.waiting[:dropped]
                    log.error("dropped %d events from the dashboard roll-ups; run `postgate dashboard "
                              "backfill` once the database takes writes again", dropped)
                raise

    async def close(self) -> None:
        """Write what is waiting and stop the background task. The task is asked to stop, never
        cancelled: a cancelled transaction could leave the connection's lock taken."""
        self.closing = True
        self.wake.set()
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task
            self.task = None
        await self.flush()


async def hosted_providers(gateway: Any, events: list[Event]) -> dict[str, str]:
    """The MX-found providers of the events' recipient domains (empty when ``mx_lookups`` is off).
    Runs in the roll-up task: a domain never seen waits for its look-up before it is counted."""
    directory = directory_of(gateway)
    return await directory.hosted(recipient_domains(events)) if directory is not None else {}


_buffers: weakref.WeakKeyDictionary[Any, RollupBuffer] = weakref.WeakKeyDictionary()


def buffer_of(gateway: Any) -> RollupBuffer:
    buffer = _buffers.get(gateway)
    if buffer is None:
        buffer = _buffers[gateway] = RollupBuffer(gateway)
    return buffer


async def flush(gateway: Any) -> None:
    """Write the roll-ups of every event ``gateway`` has recorded so far (views call it before
    reading when they must be exact to the second; tests do)."""
    buffer = _buffers.get(gateway)
    if buffer is not None:
        await buffer.flush()


async def close(gateway: Any) -> None:
    buffer = _buffers.pop(gateway, None)
    if buffer is not None:
        await buffer.close()
