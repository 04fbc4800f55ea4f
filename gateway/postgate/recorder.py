"""Group commit of delivery progress: dispatch marks, ledger updates and events from concurrent
sends, written together every few milliseconds rather than once per chunk or per recipient.

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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from .domain import Event, RecipientUpdate

log = logging.getLogger("postgate.worker")
_T = TypeVar("_T")


class _Lane:
    """Writes grouped: what callers added since the last write goes in the next one, which starts
    ``interval`` seconds after the first caller arrived (at once when ``max_rows`` wait), one write
    at a time; every caller gets the result of the write that held its rows."""

    def __init__(self, write: Callable[[], Awaitable[Any]], pending: Callable[[], int],
                 interval: float, max_rows: int) -> None:
        self.write = write
        self.pending = pending
        self.interval = interval
        self.max_rows = max_rows
        self.waiters: list[asyncio.Future[Any]] = []
        self._full = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None

    def submit(self) -> asyncio.Future[Any]:
        """The result of the write that will hold what was added so far."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        if self.pending() >= self.max_rows:
            self._full.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_groups(), name="postgate-outcome-recorder")
        return waiter

    async def _flush_groups(self) -> None:
        while self.waiters:
            if self.pending() < self.max_rows:
                self._full.clear()
                try:
                    await asyncio.wait_for(self._full.wait(), self.interval)
                except asyncio.TimeoutError:
                    pass
            waiters, self.waiters = self.waiters, []
            try:
                result = await self.write()
            except Exception as exc:  # noqa: BLE001 - handed to every waiter
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                        waiter.exception()  # retrieved here, so an abandoned waiter stays quiet
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(result)


class OutcomeRecorder:
    """Collects what concurrent sends produce and writes it in one group every ``interval`` s:
    events first, then in one transaction the ledger updates and the dispatch marks. Updates go
    before marks, so a send that hands over its answer and a send that starts after it never
    leave more rows marked but unanswered than there are calls in flight."""

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
        self._lane = _Lane(self._write, lambda: self.pending, interval, max_rows)
        #: Groups written and rows in them (for tests and figures).
        self.groups = 0
        self.rows = 0

    async def dispatched(self, ids: Sequence[int], owner: str) -> list[int]:
        """Mark rows as handed to the provider; returns, once stored, the ids still leased by
        ``owner`` (the others must not be sent)."""
        if not ids:
            return []
        self._marks.setdefault(owner, []).extend(ids)
        marked = (await asyncio.shield(self._lane.submit())).get(owner, ())
        return [i for i in ids if i in marked]

    async def record(self, updates: Sequence[RecipientUpdate], events: Sequence[Event]) -> None:
        """Store outcomes (events first, then the ledger updates); returns once they are stored."""
        if updates or events:
            await asyncio.shield(self.queue(updates, events))

    def queue(self, updates: Sequence[RecipientUpdate], events: Sequence[Event]) -> asyncio.Future[Any]:
        """Add outcomes to the next group now; the future is done once they are stored."""
        self._updates.extend(updates)
        self._events.extend(events)
        return self._lane.submit()

    @property
    def pending(self) -> int:
        return sum(map(len, self._marks.values())) + len(self._updates)

    async def _write(self) -> dict[str, set[int]]:
        marks, self._marks = self._marks, {}
        updates, self._updates = self._updates, []
        events, self._events = self._events, []
        storage = self.gateway.storage
        count = sum(map(len, marks.values())) + len(updates)
        done = {"events": not events}

        async def write() -> dict[str, set[int]]:
            if not done["events"]:  # events first: a crash in between redoes them (their keys)
                await self.gateway.record_events(events)
                done["events"] = True
            # One owner per pass over a job: a few at most, all in the same commit.
            return await storage.update_and_mark(updates, marks, time.time() + self.lease_seconds)

        marked = await self._retrying(write, count, len(events))
        self.groups += 1
        self.rows += count
        return marked

    async def _retrying(self, write: Callable[[], Awaitable[_T]], count: int, events: int) -> _T:
        deadline = time.monotonic() + self.retry_for
        delay = 0.25
        while True:
            try:
                return await write()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - storage down or disk full: wait and try again
                left = deadline - time.monotonic()
                if left <= 0:
                    log.error("recording %d delivery outcome(s) and %d event(s) failed for %.0f s (%s); giving up: "
                              "those rows stay 'sending' and are settled in doubt after their lease",
                              count, events, self.retry_for, _describe(exc))
                    raise
                log.error("recording %d delivery outcome(s) and %d event(s) failed (%s); sending waits, "
                          "retrying in %.1f s", count, events, _describe(exc), min(delay, left))
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 5.0)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    lowered = text.lower()
    if "disk" in lowered and "full" in lowered or "no space" in lowered or "errno 28" in lowered:
        return f"disk full: {text}"
    return text
