"""A worker's share of the delivery's rate: grants of the shared send window, spent by its sends.

Every worker of every process asks the storage's window (``Storage.grant_sends``) before it sends,
so that no one-second window holds more sends than the rate. When the rate is far above what one
part of a chunk needs (no limit can bind soon: an explicit high ``max_send_rate``, a production
quota), a worker takes a *block* of sends at once — a sixteenth of the window — and spends it on
several parts without a storage round trip each; when the rate is tight it asks for each part
alone, as before, so no grant holds sends it does not make. A block is given back once it is
spent or a window after it was granted, and only after every send made from it was answered, so
its sends are inside the grant's span and the window stays exact across processes.

Callers of one allowance queue on a lock (one caller polls the window at a time) and carry one
ticket, so refused workers take turns with other processes (see ``grant_sends``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("postgate.worker")

#: A grant whose worker died (never released) stops holding the rate after this long: longer than
#: one send call may take (SES: connect 5 s + send 30 s), short enough that a killed worker does
#: not stall the others for minutes.
GRANT_LEASE_SECONDS = 45.0
#: A block is this share of the window's budget ...
BLOCK_SHARE = 16
#: ... and only taken when it holds at least this many parts: a rate no part comes near.
BLOCK_MIN_PARTS = 4


def send_window(rate: float) -> tuple[int, float]:
    """``(sends, seconds)``: at most ``sends`` in any window of ``seconds`` keeps every one-second
    window at or under ``rate`` (whole sends: below 1/s, one send per ``1/rate`` seconds)."""
    budget = max(1, math.floor(rate))
    return budget, max(1.0, budget / rate)


def block_size(count: int, budget: int) -> int:
    """Sends to ask the window for when a part of ``count`` sends needs some."""
    share = budget // BLOCK_SHARE
    return share if share >= BLOCK_MIN_PARTS * count else count


class Grant:
    """One grant of the window, spent by one or more parts."""

    __slots__ = ("id", "left", "budget", "users", "retired")

    def __init__(self, grant_id: int, size: int, budget: int) -> None:
        self.id = grant_id
        self.left = size
        self.budget = budget
        self.users = 0  # parts whose sends are not all answered yet
        self.retired = False  # no more parts take from it; released when its users are done


class SendAllowance:
    """Grants of one shared bucket for one worker loop."""

    def __init__(self, storage: Any, bucket: str, stopping: Callable[[], bool]) -> None:
        self.storage = storage
        self.bucket = bucket
        self.stopping = stopping
        self.ticket = secrets.randbits(31) + 1  # a float column holds it exactly
        self._lock = asyncio.Lock()
        self._current: Grant | None = None
        self._releases: set[asyncio.Task[None]] = set()
        #: Round trips to the window (for tests and figures).
        self.asked = 0

    async def take(self, count: int, rate: float) -> Grant | None:
        """Wait until ``count`` sends fit the rate; the grant to :meth:`done` once they were
        made, or ``None`` when the worker is stopping (nothing may be sent)."""
        budget, window = send_window(rate)
        async with self._lock:
            grant = self._current
            if grant is not None and (grant.left < count or grant.budget != budget):
                self._retire(grant)
                grant = None
            if grant is None:
                size = block_size(count, budget)
                grant_id = await self._ask(size, budget, window)
                if grant_id is None:
                    return None
                grant = Grant(grant_id, size, budget)
                if size > count:  # a block: later parts spend it, for one window at most
                    self._current = grant
                    asyncio.get_running_loop().call_later(window, self._retire, grant)
                else:
                    grant.retired = True
            grant.left -= count
            grant.users += 1
            return grant

    async def done(self, grant: Grant) -> None:
        """The sends of one :meth:`take` were made (or never will be)."""
        grant.users -= 1
        if grant.retired and grant.users == 0:
            await self._release(grant)

    async def close(self) -> None:
        """Give back the open block and wait for releases under way."""
        if self._current is not None:
            self._retire(self._current)
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)

    async def _ask(self, count: int, budget: int, window: float) -> int | None:
        while True:
            if self.stopping():
                return None
            self.asked += 1
            wait, grant = await self.storage.grant_sends(self.bucket, count, budget, window, time.time(),
                                                         GRANT_LEASE_SECONDS, ticket=self.ticket)
            if grant is not None:
                return int(grant)
            await asyncio.sleep(wait)

    def _retire(self, grant: Grant) -> None:
        if self._current is grant:
            self._current = None
        if grant.retired:
            return
        grant.retired = True
        if grant.users == 0:
            task = asyncio.ensure_future(self._release(grant))
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    async def _release(self, grant: Grant) -> None:
        try:
            await asyncio.shield(self.storage.release_sends(grant.id, time.time()))
        except Exception:  # noqa: BLE001 - never lose send results over it; the grant's lease ends it
            log.warning("could not release rate grant %s; it holds the rate until its lease ends", grant.id,
                        exc_info=True)
