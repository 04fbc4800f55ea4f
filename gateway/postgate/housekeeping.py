"""Background upkeep: re-queue batches whose job was never confirmed, purge expired data."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

log = logging.getLogger("postgate.housekeeping")

#: Seconds between rounds.
INTERVAL = 10.0
#: Seconds between retention purges.
PURGE_EVERY = 3600.0
#: Rows deleted per purge statement.
PURGE_BATCH = 1000
REQUEUE_BATCH = 100


async def requeue_unenqueued(gateway: Any, older_than: float | None = None) -> int:
    """Queue the jobs of every batch stored more than ``older_than`` seconds ago
    (default: :data:`postgate.app.REQUEUE_AFTER`) without a confirmed job."""
    from .app import REQUEUE_AFTER

    older_than = REQUEUE_AFTER if older_than is None else older_than
    count = 0
    cutoff = time.time() - older_than
    while True:
        batches = await gateway.storage.unenqueued_batches(cutoff, REQUEUE_BATCH)
        for batch in batches:
            await gateway.enqueue(batch)
            log.warning("re-queued batch %s (%s): its job was never confirmed", batch.id, batch.message_id)
        count += len(batches)
        if len(batches) < REQUEUE_BATCH:
            return count


async def purge_expired(gateway: Any, batch_size: int = PURGE_BATCH) -> int:
    """Delete events and batches older than ``retention_days``, a statement at a time."""
    before = time.time() - gateway.settings.gateway.retention_days * 86400
    total = 0
    while True:
        removed = await gateway.storage.purge(before, batch_size)
        total += removed
        if removed == 0:
            return total
        await asyncio.sleep(0)  # let other work in between statements


async def housekeeping_loop(gateway: Any, stop: asyncio.Event, *, interval: float = INTERVAL,
                            purge_every: float = PURGE_EVERY) -> None:
    """Run the upkeep rounds until ``stop`` is set; a failing round is logged and retried."""
    next_purge = 0.0
    while not stop.is_set():
        try:
            await requeue_unenqueued(gateway)
            if time.monotonic() >= next_purge:
                removed = await purge_expired(gateway)
                if removed:
                    log.info("purged %d expired rows", removed)
                next_purge = time.monotonic() + purge_every
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - housekeeping must keep running
            log.exception("housekeeping round failed")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
