"""The outbound queue in storage: enqueueing, leasing, settling and reading deliveries.

Every function runs inside ``storage.orm()`` and is batch-shaped. A lease is taken with one
conditional UPDATE, so two workers (threads, processes or hosts) never both hold a delivery;
an unfinished lease expires and the delivery is taken again (at least once: receivers
de-duplicate by the event id in the payload).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.expressions import F, Q

from .models import Attempt, Delivery

WRITE_BATCH = 500
PENDING, DELIVERED, REJECTED, FAILED = "pending", "delivered", "rejected", "failed"


@dataclass(slots=True)
class Outcome:
    """What became of one claimed delivery after an attempt."""

    delivery: Delivery
    at: float
    status_code: int | None
    outcome: str  # delivered, retry, rejected, failed or refused
    error: str = ""
    next_at: float | None = None  # for a retry


def _free(now: float) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


async def enqueue(rows: Sequence[Delivery]) -> None:
    await Delivery.bulk_create(list(rows), batch_size=WRITE_BATCH)


async def claim(now: float, limit: int, lease_seconds: float, skip_urls: Sequence[str] = ()) -> list[Delivery]:
    """Lease up to ``limit`` due deliveries, oldest first, leaving out ``skip_urls``."""
    query = Delivery.filter(_free(now), status=PENDING, next_at__lte=now)
    if skip_urls:
        query = query.exclude(url__in=list(skip_urls))
    ids = await query.order_by("next_at", "id").limit(limit).values_list("id", flat=True)
    if not ids:
        return []
    token = uuid.uuid4().hex
    await Delivery.filter(_free(now), id__in=list(ids), status=PENDING).update(
        lease_owner=token, lease_until=now + lease_seconds)
    return list(await Delivery.filter(id__in=list(ids), lease_owner=token).order_by("next_at", "id"))


async def release(deliveries: Sequence[Delivery]) -> None:
    """Give leases back unused (no attempt counted)."""
    owners: dict[str | None, list[int]] = {}
    for delivery in deliveries:
        owners.setdefault(delivery.lease_owner, []).append(delivery.id)
    for owner, ids in owners.items():
        await Delivery.filter(id__in=ids, lease_owner=owner).update(lease_owner=None, lease_until=None)


async def settle(outcomes: Sequence[Outcome]) -> None:
    """Store attempts' results: the deliveries' new state (one UPDATE for all the delivered
    ones, which are most) and one attempts-log row each."""
    if not outcomes:
        return
    delivered = [o for o in outcomes if o.outcome == "delivered"]
    if delivered:
        await Delivery.filter(id__in=[o.delivery.id for o in delivered]).update(
            status=DELIVERED, attempts=F("attempts") + 1, last_status=200, last_error="", lease_owner=None,
            lease_until=None, finished_at=max(o.at for o in delivered))
    for item in outcomes:
        if item.outcome == "delivered":
            continue
        done = item.outcome != "retry"
        await Delivery.filter(id=item.delivery.id).update(
            status={"retry": PENDING, "rejected": REJECTED}.get(item.outcome, FAILED), attempts=F("attempts") + 1,
            last_status=item.status_code, last_error=item.error[:255], lease_owner=None, lease_until=None,
            next_at=item.next_at if item.next_at is not None else item.delivery.next_at,
            finished_at=item.at if done else None)
    await Attempt.bulk_create([
        Attempt(delivery_id=o.delivery.id, at=o.at, domain=o.delivery.domain, webhook=o.delivery.webhook,
                url=o.delivery.url, event_id=o.delivery.event_id, status_code=o.status_code, outcome=o.outcome,
                error=o.error[:255]) for o in outcomes], batch_size=WRITE_BATCH)


async def defer_url(url: str, until: float, now: float, give_up_before: float) -> None:
    """Hold a failing URL's due deliveries until ``until`` (its circuit is open); those enqueued
    before ``give_up_before`` are given up instead."""
    free = Delivery.filter(_free(now), status=PENDING, url=url)
    await free.filter(enqueued_at__lt=give_up_before).update(
        status=FAILED, finished_at=now, last_error="given up: the URL kept failing")
    await free.filter(next_at__lt=until).update(next_at=until)


async def purge(before: float) -> int:
    """Delete finished deliveries and attempts older than ``before``."""
    gone = await Delivery.filter(finished_at__lt=before).delete()
    return gone + await Attempt.filter(at__lt=before).delete()


async def attempts(domain: str | None = None, failed_only: bool = False, limit: int = 100) -> list[Attempt]:
    """The newest attempts, newest first."""
    query = Attempt.all()
    if domain:
        query = query.filter(domain=domain.lower())
    if failed_only:
        query = query.exclude(outcome="delivered")
    return list(await query.order_by("-at", "-id").limit(limit))


async def counts() -> dict[str, int]:
    """Deliveries by status (for the operator)."""
    return {status: await Delivery.filter(status=status).count() for status in (PENDING, DELIVERED, REJECTED, FAILED)}
