"""Samples of each send's progress while it goes out, kept in ``dashboard_send_progress`` for the
send page's progress curve.

Each gateway process that serves the dashboard reads ``Storage.batch_progress`` every
:data:`SAMPLE_SECONDS` (a few indexed statements; nothing when no batch is in flight), sums the
batches of each Ghost newsletter (``email_id``), adds the delivered events the roll-ups have
counted for it, and upserts one row per send and sample slot, so several processes write the same
rows. A send's samples are kept :data:`KEEP_DAYS` days."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from ..rollups.derive import SEND
from ..rollups.models import Count, ProgressSample

log = logging.getLogger("postgate.dashboard")

#: Seconds between two samples (and the width of a sample slot).
SAMPLE_SECONDS = 10.0
#: Seconds over which ``batch_progress`` also reports batches that have just finished.
RECENT = 120.0
KEEP_DAYS = 400
#: Most samples one send's curve reads.
MAX_SAMPLES = 5000
COLUMNS = ("domain", "send_key", "at", "started_at", "total", "done", "failed", "delivered")
MAX_KEY = 255


@dataclass(frozen=True, slots=True)
class Sample:
    at: int
    started_at: int
    total: int
    done: int
    failed: int
    delivered: int


def sends_in_flight(batches: list[Any]) -> dict[tuple[str, str], Sample]:
    """The batches of each newsletter summed up, keyed by ``(domain, email_id)``; batches without
    a Ghost email id are not a send the dashboard can name, and are left out."""
    out: dict[tuple[str, str], Sample] = {}
    for batch in batches:
        if not batch.email_id:
            continue
        key = (batch.domain.lower()[:MAX_KEY], str(batch.email_id)[:MAX_KEY])
        before = out.get(key)
        started = int(batch.created_at)
        sample = Sample(0, started, batch.total, batch.done, batch.counts.get("failed", 0), 0)
        if before is not None:
            sample = Sample(0, min(before.started_at, started), before.total + sample.total,
                            before.done + sample.done, before.failed + sample.failed, 0)
        out[key] = sample
    return out


async def delivered_counts(domain: str, keys: list[str]) -> dict[str, int]:
    """The delivered events the roll-ups hold per send (inside ``storage.orm()``)."""
    rows = await Count.filter(domain=domain, dimension=SEND, value__in=keys, bucket=0,
                              kind="delivered").values_list("value", "n")
    return {value: int(n) for value, n in rows}


def _upsert(mysql: bool, rows: int) -> str:
    marks = ", ".join(["(" + ", ".join(["%s" if mysql else "?"] * len(COLUMNS)) + ")"] * rows)
    head = f"INSERT INTO dashboard_send_progress ({', '.join(COLUMNS)}) VALUES {marks} "
    replaced = ("started_at", "total", "done", "failed", "delivered")
    if mysql:
        return head + "ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = VALUES({c})" for c in replaced)
    return head + "ON CONFLICT (domain, send_key, at) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in replaced)


async def take_samples(gateway: Any, now: float, slot: float = SAMPLE_SECONDS) -> int:
    """Record the progress of every send in flight now; the number of sends sampled."""
    sends = sends_in_flight(await gateway.storage.batch_progress(now - RECENT, now))
    if not sends:
        return 0
    at = int(now) - int(now) % max(1, int(slot))
    by_domain: dict[str, list[str]] = {}
    for domain, key in sends:
        by_domain.setdefault(domain, []).append(key)
    with gateway.storage.orm():
        delivered = {(domain, key): n for domain, keys in by_domain.items()
                     for key, n in (await delivered_counts(domain, keys)).items()}
        async with in_transaction() as db:
            values: list[Any] = []
            for (domain, key), s in sorted(sends.items()):
                values += [domain, key, at, s.started_at, s.total, s.done, s.failed, delivered.get((domain, key), 0)]
            await db.execute_query(_upsert(db.capabilities.dialect == "mysql", len(sends)), values)
    return len(sends)


async def prune(gateway: Any, now: float) -> None:
    with gateway.storage.orm():
        await ProgressSample.filter(at__lt=int(now) - KEEP_DAYS * 86400).delete()


async def samples_of(gateway: Any, domain: str, key: str) -> list[Sample]:
    """A send's samples, oldest first (the last :data:`MAX_SAMPLES` of them)."""
    with gateway.storage.orm():
        rows = await ProgressSample.filter(domain=domain.lower(), send_key=key).order_by("-at").limit(
            MAX_SAMPLES).values_list("at", "started_at", "total", "done", "failed", "delivered")
    return [Sample(*(int(v) for v in row)) for row in reversed(rows)]


class ProgressSampler:
    """The background task that takes the samples of one gateway."""

    def __init__(self, gateway: Any, interval: float = SAMPLE_SECONDS) -> None:
        self.gateway = gateway
        self.interval = interval
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="postgate-dashboard-progress")

    async def _run(self) -> None:
        pruned = 0.0
        while True:
            now = self.gateway.now()
            try:
                await take_samples(self.gateway, now, self.interval)
                if now - pruned > 3600:
                    await prune(self.gateway, now)
                    pruned = now
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("sampling send progress failed")
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
