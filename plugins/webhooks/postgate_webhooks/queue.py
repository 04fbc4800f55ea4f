"""The outbound queue in storage: enqueueing, leasing, settling and reading deliveries.

The hot statements (enqueue, lease, settle, release) are plain parameterised SQL on a storage
session (``storage.session(write=True)``), batch-shaped, so one loop turn is one short
transaction of a handful of statements whatever the number of POSTs it settles or leases.
A lease is taken inside that transaction (rows read with the storage's row lock, then marked
with this process's owner), so two workers (processes or hosts) never both hold a delivery; an
unfinished lease expires and the delivery is taken again (at least once: receivers
de-duplicate by the event id in the payload). The operator's reads use the tortoise models
inside ``storage.orm()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .models import Attempt, Delivery, SigningKey

#: Ids or rows per statement (far below every parameter limit).
CHUNK = 500
PENDING, DELIVERED, REJECTED, FAILED = "pending", "delivered", "rejected", "failed"
DELIVERIES, ATTEMPTS, KEYS = Delivery._meta.db_table, Attempt._meta.db_table, SigningKey._meta.db_table
#: The lease of a delivery is free: never taken, or run out.
FREE = "(lease_until IS NULL OR lease_until < ?)"
DUE_COLUMNS = "id, domain, webhook, url, event_id, event_data, attempts, next_at"
ENQUEUE = (f"INSERT INTO {DELIVERIES} (domain, webhook, url, event_id, event_data, status, attempts, "
           "enqueued_at, next_at, last_error) VALUES ")
ENQUEUE_ROW = "(?, ?, ?, ?, ?, 'pending', 0, ?, ?, '')"
#: Rows per multi-row INSERT of deliveries (7 parameters each).
ENQUEUE_CHUNK = 200
LOG_ATTEMPT = (f"INSERT INTO {ATTEMPTS} (delivery_id, at, domain, webhook, url, event_id, status_code, "
               "outcome, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
#: The test route's sample POST: no delivery behind it (``delivery_id`` 0), marked as a test.
LOG_TEST = (f"INSERT INTO {ATTEMPTS} (delivery_id, at, domain, webhook, url, event_id, status_code, "
            "outcome, error, duration_ms, test) VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)")
SETTLE_ONE = (f"UPDATE {DELIVERIES} SET status = ?, attempts = attempts + 1, last_status = ?, last_error = ?, "
              "lease_owner = NULL, lease_until = NULL, next_at = ?, finished_at = ? WHERE id = ?")


@dataclass(slots=True)
class Due:
    """A leased delivery, as the delivery loop holds it."""

    id: int
    domain: str
    webhook: str
    url: str
    event_id: str
    event_data: str
    attempts: int
    next_at: float


@dataclass(slots=True)
class Outcome:
    """What became of one leased delivery after an attempt."""

    delivery: Due
    at: float
    status_code: int | None
    outcome: str  # delivered, retry, rejected, failed or refused
    error: str = ""
    next_at: float | None = None  # for a retry
    duration_ms: float | None = None  # from the start of the POST to its answer or failure; none if not made


def marks(count: int) -> str:
    return ", ".join("?" * count)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def enqueue(db: Any, rows: Sequence[tuple[str, str, str, str, str, float, float]]) -> None:
    """Queue deliveries, ``(domain, webhook, url, event_id, event_data, enqueued_at, next_at)``,
    in multi-row INSERTs (one statement, so no transaction needed, for up to 200 of them)."""
    for part in chunks(rows, ENQUEUE_CHUNK):
        await db.execute(ENQUEUE + ", ".join([ENQUEUE_ROW] * len(part)), [value for row in part for value in row])


async def due_urls(db: Any, now: float, limit: int, skip_urls: Sequence[str], lock_rows: str) -> list[tuple[int, str]]:
    """``(id, url)`` of up to ``limit`` due deliveries with a free lease, oldest first, leaving
    out ``skip_urls`` (the caller picks which of them to lease)."""
    skip = f" AND url NOT IN ({marks(len(skip_urls))})" if skip_urls else ""
    rows = await db.fetch(
        f"SELECT id, url FROM {DELIVERIES} WHERE status = 'pending' AND next_at <= ? AND {FREE}{skip} "
        f"ORDER BY next_at, id LIMIT ?{lock_rows}", (now, now, *skip_urls, limit))
    return [(int(row[0]), row[1]) for row in rows]


async def lease(db: Any, ids: Sequence[int], owner: str, until: float) -> list[Due]:
    """Mark ``ids`` (just read by :func:`due_urls` in the same transaction) as held by ``owner``
    until ``until``; returns them oldest first (SQLite answers the UPDATE with the rows at once)."""
    found: list[Due] = []
    returning = db.storage.dialect == "sqlite"
    for part in chunks(ids):
        where = f"WHERE id IN ({marks(len(part))})"
        update = f"UPDATE {DELIVERIES} SET lease_owner = ?, lease_until = ? {where}"
        if returning:
            rows = await db.fetch(f"{update} RETURNING {DUE_COLUMNS}", (owner, until, *part))
        else:
            await db.execute(update, (owner, until, *part))
            rows = await db.fetch(f"SELECT {DUE_COLUMNS} FROM {DELIVERIES} {where}", part)
        found.extend(Due(int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]), float(r[7])) for r in rows)
    found.sort(key=lambda due: (due.next_at, due.id))
    return found


async def release(db: Any, deliveries: Sequence[Due], owner: str) -> None:
    """Give leases back unused (no attempt counted)."""
    for part in chunks([d.id for d in deliveries]):
        await db.execute(f"UPDATE {DELIVERIES} SET lease_owner = NULL, lease_until = NULL "
                         f"WHERE id IN ({marks(len(part))}) AND lease_owner = ?", (*part, owner))


async def settle(db: Any, outcomes: Sequence[Outcome]) -> None:
    """Store attempts' results: the deliveries' new state (one UPDATE per answer status for the
    delivered ones, which are most) and one attempts-log row each, with its duration."""
    if not outcomes:
        return
    delivered: dict[int | None, list[Outcome]] = {}
    others = []
    for item in outcomes:
        if item.outcome == "delivered":
            delivered.setdefault(item.status_code, []).append(item)
        else:
            done = item.outcome != "retry"
            others.append(({"retry": PENDING, "rejected": REJECTED}.get(item.outcome, FAILED), item.status_code,
                           item.error[:255], item.next_at if item.next_at is not None else item.delivery.next_at,
                           item.at if done else None, item.delivery.id))
    for status_code, items in delivered.items():
        finished = max(o.at for o in items)
        for part in chunks([o.delivery.id for o in items]):
            await db.execute(
                f"UPDATE {DELIVERIES} SET status = 'delivered', attempts = attempts + 1, last_status = ?, "
                f"last_error = '', lease_owner = NULL, lease_until = NULL, finished_at = ? "
                f"WHERE id IN ({marks(len(part))})", (status_code, finished, *part))
    if others:
        await db.executemany(SETTLE_ONE, others)
    await db.executemany(LOG_ATTEMPT, [
        (o.delivery.id, o.at, o.delivery.domain, o.delivery.webhook, o.delivery.url, o.delivery.event_id,
         o.status_code, o.outcome, o.error[:255], None if o.duration_ms is None else round(o.duration_ms, 3))
        for o in outcomes])


async def log_test(db: Any, row: tuple[Any, ...]) -> None:
    """Log the test route's sample POST, ``(at, domain, webhook, url, event_id, status_code,
    outcome, error, duration_ms)``."""
    await db.execute(LOG_TEST, row)


async def defer_url(db: Any, url: str, until: float, now: float, give_up_before: float) -> None:
    """Hold a failing URL's due deliveries until ``until`` (its circuit is open); those enqueued
    before ``give_up_before`` are given up instead."""
    free = f"status = 'pending' AND url = ? AND {FREE}"
    await db.execute(f"UPDATE {DELIVERIES} SET status = 'failed', finished_at = ?, "
                     f"last_error = 'given up: the URL kept failing' WHERE {free} AND enqueued_at < ?",
                     (now, url, now, give_up_before))
    await db.execute(f"UPDATE {DELIVERIES} SET next_at = ? WHERE {free} AND next_at < ?", (until, url, now, until))


async def signing_keys(db: Any, accounts: Sequence[str]) -> dict[str, str]:
    """The stored signing keys of ``accounts`` (missing ones are left out)."""
    if not accounts:
        return {}
    rows = await db.fetch(f"SELECT account, {_quoted_key(db)} FROM {KEYS} "
                          f"WHERE account IN ({marks(len(accounts))})", accounts)
    return {row[0]: row[1] for row in rows}


def _quoted_key(db: Any) -> str:
    """``key`` is a reserved word on MySQL-like servers."""
    return '"key"' if db.storage.dialect == "sqlite" else "`key`"


# -- the operator's reads (tortoise, inside ``storage.orm()``) ---------------------------------

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
