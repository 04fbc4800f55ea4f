"""Gauges read at scrape time from ``await gateway.operations_snapshot()``.

Only the process answering the scrape computes them, from the shared queue and storage, and they
never go into the multiprocess files: one scrape shows each figure once, however many worker
processes run. A figure the backends cannot tell (``None``) is left out rather than shown as 0.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from postgate import Gateway

if TYPE_CHECKING:
    from postgate import OperationsSnapshot

log = logging.getLogger("postgate.metrics")


def gauge(name: str, documentation: str, value: float | None = None,
          labelled: dict[tuple[str, ...], float] | None = None, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, value=value, labels=labels or None)
    for label_values, figure in (labelled or {}).items():
        family.add_metric(list(label_values), figure)
    return family


class SnapshotCollector(Collector):
    """The families of one snapshot (or only ``postgate_operations_snapshot_success 0``)."""

    def __init__(self, snapshot: OperationsSnapshot | None, delivery: str) -> None:
        self.snapshot = snapshot
        self.delivery = delivery

    def collect(self):
        snap = self.snapshot
        yield gauge("postgate_operations_snapshot_success",
                    "1 when this scrape could read the queue and storage, else 0.", 0.0 if snap is None else 1.0)
        if snap is None:
            return
        if snap.queue_depth is not None:
            yield gauge("postgate_queue_depth", "Jobs waiting in the queue.", snap.queue_depth)
        oldest = 0.0 if snap.oldest_job_age is None and snap.queue_depth == 0 else snap.oldest_job_age
        if oldest is not None:
            yield gauge("postgate_queue_oldest_job_age_seconds",
                        "Seconds since the oldest waiting job was queued (0 when the queue is empty).", oldest)
        yield gauge("postgate_recipients_in_doubt",
                    "Recipients handed to the provider whose answer was lost (lease expired while sending).",
                    snap.in_doubt)
        if snap.dead_jobs is not None:
            yield gauge("postgate_dead_letter_jobs", "Jobs dead-lettered after too many failures.", snap.dead_jobs)
        yield from self._batches(snap)
        yield from self._quota(snap)

    def _batches(self, snap: OperationsSnapshot):
        in_flight: dict[tuple[str, ...], float] = defaultdict(float)
        remaining: dict[tuple[str, ...], float] = defaultdict(float)
        rate: dict[tuple[str, ...], float] = defaultdict(float)
        for batch in snap.batches:
            if batch.finished:
                continue
            key = (batch.domain.lower(),)
            in_flight[key] += 1
            remaining[key] += batch.total - batch.done
            rate[key] += batch.rate or 0.0
        yield gauge("postgate_batches_in_flight", "Accepted batches with recipients not yet in a final state, by domain.",
                    labelled=in_flight, labels=("domain",))
        yield gauge("postgate_batch_recipients_remaining",
                    "Recipients of batches in flight not yet in a final state, by domain.",
                    labelled=remaining, labels=("domain",))
        yield gauge("postgate_batch_recipients_per_second",
                    "Recipients of batches in flight finished per second over the last minute, by domain.",
                    labelled=rate, labels=("domain",))

    def _quota(self, snap: OperationsSnapshot):
        quota = snap.quota
        if quota is None:
            return
        key = (self.delivery,)
        figures = [
            ("postgate_provider_quota_max_24h", "Messages the provider allows per 24 hours.", quota.max_24h),
            ("postgate_provider_quota_used_24h", "Messages sent in the provider's last 24 hours.", quota.sent_24h),
            ("postgate_provider_quota_left_24h", "Messages left in the provider's 24-hour quota.", quota.left_24h),
            ("postgate_provider_quota_max_send_rate", "Messages per second the provider allows.", quota.max_rate),
        ]
        for name, documentation, value in figures:
            if value is not None:
                yield gauge(name, documentation, labelled={key: float(value)}, labels=("delivery",))


async def snapshot_registry(gateway: Gateway) -> CollectorRegistry:
    """A registry holding this scrape's snapshot gauges."""
    try:
        snapshot = await gateway.operations_snapshot()
    except Exception:  # noqa: BLE001 - the event-driven metrics are still worth serving
        log.exception("metrics: the operations snapshot failed")
        snapshot = None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot, gateway.settings.backends.delivery))
    return registry
