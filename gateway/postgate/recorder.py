"""Group commit of delivery progress: dispatch marks, ledger updates and events from concurrent
sends, written together every few milliseconds rather than once per chunk.

Every caller awaits the write that holds its rows, so when :meth:`OutcomeRecorder.dispatched` or
:meth:`OutcomeRecorder.record` returns, the ledger knows. A kill therefore leaves in doubt only
the sends between their dispatch mark and their recorded answer: the calls really in flight.

A write that fails (database restarting, disk full) is logged and tried again with backoff for
up to ``retry_for`` seconds; senders wait meanwhile, so nothing more is handed to the provider
while its answers cannot be kept. After that the waiting callers get the error and their rows
stay ``sending``: they come back in doubt when the lease expires, and are settled, never lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from .domain import Event, RecipientUpdate

log = logging.getLogger("postgate.worker")


class OutcomeRecorder:
    """Collects what concurrent sends produce and writes it in one group every ``interval`` s."""

    def __init__(self, gateway: Any, lease_seconds: float, *, interval: float = 0.005,
                 max_rows: int = 500, retry_for: float = 60.0) -> None:
        self.gateway = gateway
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.max_rows = max_rows
        self.retry_for = retry_for
        self._marks: dict[str, list[int]] = {}  # by lease owner
        self._updates: list[RecipientUpdate] = []
        self._events: list[Event] = []
        self._waiters: list[asyncio.Future[set[int]]] = []
        self._full = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        #: Groups written and rows in them (for tests and figures).
        self.groups = 0
        self.rows = 0

    async def dispatched(self, ids: Sequence[int], owner: str) -> list[int]:
        """Mark rows as handed to the provider; returns, once stored, the ids still leased by
        ``owner`` (the others must not be sent)."""
        if not ids:
            return []
        self._marks.setdefault(owner, []).extend(ids)
        marked = await self._commit()
        return [i for i in ids if i in marked]

    async def record(self, updates: Sequence[RecipientUpdate], events: Sequence[Event]) -> None:
        """Store outcomes (events first, then the ledger updates); returns once they are stored."""
        if updates or events:
            self._updates.extend(updates)
            self._events.extend(events)
            await self._commit()

    @property
    def pending(self) -> int:
        return sum(map(len, self._marks.values())) + len(self._updates)

    async def _commit(self) -> set[int]:
        waiter: asyncio.Future[set[int]] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self.pending >= self.max_rows:
            self._full.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_groups(), name="postgate-outcome-recorder")
        return await asyncio.shield(waiter)

    async def _flush_groups(self) -> None:
        while self._waiters:
            if self.pending < self.max_rows:
                self._full.clear()
                try:
                    await asyncio.wait_for(self._full.wait(), self.interval)
                except asyncio.TimeoutError:
                    pass
            marks, self._marks = self._marks, {}
            updates, self._updates = self._updates, []
            events, self._events = self._events, []
            waiters, self._waiters = self._waiters, []
            try:
                marked = await self._write(marks, updates, events)
            except Exception as exc:  # noqa: BLE001 - handed to every waiter
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                        waiter.exception()  # retrieved here, so an abandoned waiter stays quiet
                continue
            self.groups += 1
            self.rows += sum(map(len, marks.values())) + len(updates)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(marked)

    async def _write(self, marks: dict[str, list[int]], updates: list[RecipientUpdate],
                     events: list[Event]) -> set[int]:
        storage = self.gateway.storage
        deadline = time.monotonic() + self.retry_for
        delay = 0.25
        done = {"marks": not marks, "events": not events, "updates": not updates}
        marked: set[int] = set()
        count = sum(map(len, marks.values())) + len(updates)
        while True:
            try:
                if not done["marks"]:
                    until = time.time() + self.lease_seconds
                    for owner, ids in marks.items():  # one owner per pass over a job: one or two
                        marked.update(await storage.mark_dispatched(ids, owner, until))
                    done["marks"] = True
                if not done["events"]:
                    await self.gateway.record_events(events)
                    done["events"] = True
                if not done["updates"]:
                    await storage.update_recipients(updates)
                    done["updates"] = True
                return marked
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - storage down or disk full: wait and try again
                left = deadline - time.monotonic()
                if left <= 0:
                    log.error("recording %d delivery outcome(s) and %d event(s) failed for %.0f s (%s); giving up: "
                              "those rows stay 'sending' and are settled in doubt after their lease",
                              count, len(events), self.retry_for, _describe(exc))
                    raise
                log.error("recording %d delivery outcome(s) and %d event(s) failed (%s); sending waits, "
                          "retrying in %.1f s", count, len(events), _describe(exc),
                          min(delay, left))
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 5.0)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    lowered = text.lower()
    if "disk" in lowered and "full" in lowered or "no space" in lowered or "errno 28" in lowered:
        return f"disk full: {text}"
    return text
