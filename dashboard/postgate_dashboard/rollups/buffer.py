"""Roll-ups written behind the recording path: events are added up as they are recorded (into
one :class:`~.derive.Tally`, a few counters per send and hour: the events themselves are not kept,
so they die young and cost the garbage collector nothing) and a background task writes the tally
in one transaction about once a second (or as soon as :data:`FLUSH_EVENTS` were added). The
roll-ups cost one commit a second instead of one per call.

What is waiting is written on shutdown. A process that dies loses at most the last second of
roll-ups (never events): ``postgate dashboard backfill`` rebuilds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterable
from typing import Any

from postgate import Event

from .derive import Tally
from .mx_directory import directory_of
from .writer import apply

log = logging.getLogger("postgate.dashboard")

#: Seconds between writes.
FLUSH_SECONDS = 1.0
#: Events added up that start a write at once (the tally, not the events, is kept: a few
#: counters per send and hour, and the first-open candidates).
FLUSH_EVENTS = 50_000
#: Events kept (added up) for a retry while the database refuses writes; beyond it the tally
#: that failed is dropped (and the log says to run the backfill).
MAX_WAITING = 200_000


class RollupBuffer:
    """The events of one gateway waiting to be rolled up."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = weakref.ref(gateway)
        self.pending = Tally()
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.closing = False

    def add(self, events: list[Event]) -> None:
        try:
            self.pending.add(events)
        except Exception:  # noqa: BLE001 - the events are stored; the backfill can count them
            log.exception("adding up %d events for the dashboard roll-ups failed; run `postgate "
                          "dashboard backfill` to count them", len(events))
        if self.pending.events >= FLUSH_EVENTS:
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
        """Write every event added up so far."""
        async with self.lock:
            pending, self.pending = self.pending, Tally()
            gateway = self.gateway()
            if not pending.events or gateway is None:
                return
            try:
                hosted = await hosted_providers(gateway, pending.recipient_domains())
                await apply(gateway, pending.expand(hosted))
            except BaseException:
                # Events added meanwhile are later ones: keep them after the tally that failed.
                if pending.events + self.pending.events > MAX_WAITING:
                    log.error("dropped %d events from the dashboard roll-ups; run `postgate dashboard "
                              "backfill` once the database takes writes again", pending.events)
                else:
                    pending.merge(self.pending)
                    self.pending = pending
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


async def hosted_providers(gateway: Any, domains: Iterable[str]) -> dict[str, str]:
    """The MX-found providers of recipient ``domains`` (empty when ``mx_lookups`` is off). Runs in
    the roll-up task, when a tally is expanded: a domain never seen waits for its look-up before
    it is counted."""
    directory = directory_of(gateway)
    return await directory.hosted(domains) if directory is not None else {}


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
