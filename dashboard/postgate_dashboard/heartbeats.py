"""Which worker loops are alive, from the ``worker_heartbeat`` hook, kept in ``dashboard_workers``.

Every process running worker loops writes their latest heartbeats to the table (one small
transaction per round of beats, a few seconds apart), so the dashboard of any process sees the
workers of all of them. A loop that stops cleanly removes its row; one whose process died or that
is stuck stops beating and its row ages: it counts as *alive* while its latest beat is at most
``worker_alive_seconds`` old, and as *silent* after that, for a day, when its row is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from .rollups.models import WorkerBeat
from .rollups.writer import Dialect

log = logging.getLogger("postgate.dashboard")

#: Seconds after which a silent worker's row is removed.
FORGET_AFTER = 86400
BEAT_COLUMNS = "owner, host, pid, started_at, seen_at"
MAX_OWNER = 255


@dataclass(frozen=True, slots=True)
class Beat:
    owner: str
    started_at: float
    seen_at: float
    stopping: bool


def host_and_pid(owner: str) -> tuple[str, int]:
    """``worker-0@host:1234:token`` → ``("host", 1234)`` (``("", 0)`` when it is not that shape)."""
    _, _, place = owner.rpartition("@")
    host, _, rest = place.partition(":")
    pid, _, _ = rest.partition(":")
    return host[:255], int(pid) if pid.isdigit() and len(pid) < 10 else 0


class BeatWriter:
    """Heartbeats of one gateway's loops waiting to be written."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = weakref.ref(gateway)
        self.waiting: dict[str, Beat] = {}
        self.task: asyncio.Task | None = None

    def add(self, beat: Beat) -> None:
        self.waiting[beat.owner] = beat
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._write_all(), name="postgate-dashboard-beats")

    async def _write_all(self) -> None:
        while self.waiting:
            beats, self.waiting = list(self.waiting.values()), {}
            try:
                await write_beats(self.gateway(), beats)
            except Exception:  # noqa: BLE001 - the next beat tries again
                log.exception("writing worker heartbeats failed")
                return

    async def close(self) -> None:
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task
        if self.waiting:
            await self._write_all()


async def write_beats(gateway: Any, beats: list[Beat]) -> None:
    """Upsert the live beats, delete the stopped loops and the long-silent rows."""
    if gateway is None or not beats:
        return
    live = sorted((b for b in beats if not b.stopping), key=lambda b: b.owner)
    gone = sorted(b.owner[:MAX_OWNER] for b in beats if b.stopping)
    with gateway.storage.orm():
        async with in_transaction() as db:
            dialect = Dialect(db.capabilities.dialect)
            if live:
                rows = [(b.owner[:MAX_OWNER], *host_and_pid(b.owner), int(b.started_at), int(b.seen_at)) for b in live]
                await db.execute_query(
                    dialect.upsert("dashboard_workers", BEAT_COLUMNS, len(rows), "owner", ("seen_at",)),
                    [v for row in rows for v in row])
            if gone:
                await WorkerBeat.filter(owner__in=gone).using_db(db).delete()
            await WorkerBeat.filter(seen_at__lt=int(time.time()) - FORGET_AFTER).using_db(db).delete()


@dataclass(frozen=True, slots=True)
class WorkerRow:
    owner: str
    host: str
    pid: int
    started_at: int
    seen_at: int
    alive: bool


async def worker_rows(gateway: Any, now: float, alive_seconds: float) -> list[WorkerRow]:
    """Every worker loop heard from in the last day, the most recently heard first."""
    with gateway.storage.orm():
        rows = await WorkerBeat.filter(seen_at__gte=int(now) - FORGET_AFTER).order_by("-seen_at", "owner").values_list(
            "owner", "host", "pid", "started_at", "seen_at")
    return [WorkerRow(owner, host, pid, started, seen, now - seen <= alive_seconds)
            for owner, host, pid, started, seen in rows]


_writers: weakref.WeakKeyDictionary[Any, BeatWriter] = weakref.WeakKeyDictionary()


def record_beat(gateway: Any, beat: Beat) -> None:
    writer = _writers.get(gateway)
    if writer is None:
        writer = _writers[gateway] = BeatWriter(gateway)
    writer.add(beat)


async def close(gateway: Any) -> None:
    writer = _writers.pop(gateway, None)
    if writer is not None:
        await writer.close()
