"""Rebuilding the roll-ups from the stored events (``postgate dashboard backfill``).

Idempotent by clearing and rebuilding: for each domain it deletes the roll-ups from ``since``
(rounded down to the UTC day; everything when not given) and replays the stored events from there
in keyset pages, through the same code the live hook uses. Hourly counters and first
opens/clicks before ``since`` are kept, so unique counts stay right across the boundary. Sends
first seen before ``since`` keep their own counters as they were (their later events still count
in the hourly figures); sends begun since are rebuilt whole, their per-link clicks too. The
monthly rows of the month ``since`` falls in are summed again from its days before ``since``.

Recipient domains are placed by the MX answers cached at that time (looked up when missing), so
a backfill re-attributes domains whose look-up had failed. Events recorded while it runs are
counted by the live hook: the replay stops at the newest event that existed when it began.
Stopping the gateway while it runs makes the result exact even for events committed in that very
second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from postgate import EventQuery

from .buffer import hosted_providers
from .derive import DAILY, DAY, MONTHLY, month_start, recipient_domains, send_key, tally
from .models import Count, Failure, First, LinkCount, Send
from .writer import apply

#: Events read per page (and written per roll-up transaction).
PAGE = 1000


@dataclass(slots=True)
class Rebuilt:
    domain: str
    events: int
    sends: int


async def _clear(gateway: Any, domain: str, since: int) -> None:
    with gateway.storage.orm():
        async with in_transaction() as db:
            if since <= 0:
                for model in (Count, Send, First, LinkCount, Failure):
                    await model.filter(domain=domain).delete()
                return
            await Count.filter(domain=domain, bucket__gte=since).exclude(dimension="send").delete()
            await _keep_month_before(db, domain, since)
            await First.filter(domain=domain, at__gte=since).delete()
            await Failure.filter(domain=domain, bucket__gte=since).delete()
            fresh = Send.filter(domain=domain, first_at__gte=since)
            keys = await fresh.values_list("send_key", flat=True)
            for start in range(0, len(keys), 500):
                await Count.filter(domain=domain, dimension="send", value__in=keys[start:start + 500]).delete()
                await LinkCount.filter(domain=domain, send_key__in=keys[start:start + 500]).delete()
            await fresh.delete()


async def _keep_month_before(db: Any, domain: str, since: int) -> None:
    """The monthly rows of the month ``since`` falls in: rebuilt from the daily rows before
    ``since`` (kept), so the replay from ``since`` adds the rest of the month once."""
    month = month_start(since)
    if month == since:
        return  # the whole month is replayed; its rows went with the rest
    marks = "%s" if db.capabilities.dialect == "mysql" else "?"
    for daily, monthly in ((DAILY[d], MONTHLY[d]) for d in DAILY):
        await Count.filter(domain=domain, dimension=monthly, bucket=month).delete()
        await db.execute_query(
            f"INSERT INTO dashboard_counts (domain, dimension, value, bucket, kind, n) "
            f"SELECT domain, {marks}, value, {marks}, kind, SUM(n) FROM dashboard_counts "
            f"WHERE domain = {marks} AND dimension = {marks} AND bucket >= {marks} AND bucket < {marks} "
            "GROUP BY domain, value, kind", [monthly, month, domain, daily, month, since])


async def _older_sends(gateway: Any, domain: str, keys: list[str], since: int) -> set[str]:
    """Of ``keys``, the sends first seen before ``since`` (their counters are kept as they are)."""
    if since <= 0 or not keys:
        return set()
    with gateway.storage.orm():
        rows = await Send.filter(domain=domain, send_key__in=keys, first_at__lt=since).values_list(
            "send_key", flat=True)
    return set(rows)


async def _newest(gateway: Any, domain: str) -> tuple[int, int] | None:
    page = await gateway.storage.page_events(EventQuery(domain=domain, ascending=False, limit=1, live=True))
    return (page[0].recorded_at, page[0].id) if page else None


async def backfill(gateway: Any, domain: str, since: float | None = None, page_size: int = PAGE) -> Rebuilt:
    """Rebuild ``domain``'s roll-ups from ``since`` (epoch seconds; all when ``None``)."""
    domain = domain.lower()
    start = int(since) - int(since) % DAY if since else 0
    newest = await _newest(gateway, domain)
    await _clear(gateway, domain, start)
    done = sends = 0
    after: tuple[int, int] | None = None
    while newest is not None:
        page = await gateway.storage.page_events(EventQuery(
            domain=domain, ascending=True, begin=start * 1_000_000 if start else None,
            limit=page_size, after=after, live=True))
        page = [e for e in page if (e.recorded_at, e.id) <= newest]
        if not page:
            break
        after = (page[-1].recorded_at, page[-1].id)
        keys = sorted({k for e in page if (k := send_key(e))})
        older = await _older_sends(gateway, domain, keys, start)
        part = tally(page, count_send=lambda _domain, key: key not in older,
                     hosted=await hosted_providers(gateway, recipient_domains(page)))
        for key in older:
            part.sends.pop((domain, key), None)
        sends += len(part.sends)
        await apply(gateway, part)
        done += len(page)
    return Rebuilt(domain, done, sends)

