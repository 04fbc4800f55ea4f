"""Monthly roll-up rows on SQLite and MariaDB: events stored over three UTC months (with their own
times) and rolled up; a year by month read from the monthly rows equals the same period summed
from the daily rows, bucket by bucket, per provider too, and the totals read without a series; a backfill from a day in the middle of a
month leaves every row as the live writer made it."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime

import pytest

import postgate_dashboard
import postgate_mysql
from postgate import Event
from postgate.testing.fixtures import TEST_DOMAIN
from postgate.testing.mariadb import create_database, drop_database
from postgate_dashboard.rollups import queries
from postgate_dashboard.rollups.backfill import backfill
from postgate_dashboard.rollups.derive import tally
from postgate_dashboard.rollups.models import Count
from postgate_dashboard.rollups.writer import apply

KINDS = ("accepted", "delivered", "opened", "clicked", "complained")
RECIPIENTS = ("a@gmail.com", "b@hotmail.co.uk", "c@yahoo.com", "d@example.com")


def epoch(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


@pytest.fixture(params=["sqlite", "mysql"])
def server(request, live_server):
    if request.param == "sqlite":
        yield live_server(plugins=[postgate_dashboard], background=False)
        return
    url = asyncio.run(create_database())
    try:
        srv = live_server(plugins=[postgate_mysql, postgate_dashboard], backends={"storage": "mysql"},
                          plugin_settings={"mysql": {"url": url}}, background=False)
        yield srv
        srv.stop()
    finally:
        asyncio.run(drop_database(url))


def spread_events(start: int, end: int, every: int) -> list[Event]:
    """Events of sends every ``every`` seconds in ``[start, end)``, each with its own time."""
    out = []
    for n, at in enumerate(range(start, end, every)):
        for i, kind in enumerate(KINDS[: 2 + n % 4]):
            recipient = RECIPIENTS[(n + i) % len(RECIPIENTS)]
            payload = {"event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
                       "user-variables": {"email-id": f"send{n}"}, "client-info": {"bot": "apple" if n % 3 else ""}}
            out.append(Event(domain=TEST_DOMAIN, event=kind, recipient=recipient, message_id=f"m{n}.{i}@x",
                             payload=payload, key=f"{kind}:{n}:{i}", email_id=f"send{n}", tags=["Bulk", "t2"],
                             recorded_at=(at + i * 600) * 1_000_000))
    return out


async def store(gateway, events: list[Event]) -> None:
    """Store events with their own times (as seeded), then roll them up as the live writer does."""
    columns = "event_id, domain, recorded_at, event, recipient, message_id, email_id, tags, tags_search, event_key, payload"
    async with gateway.storage.session(write=True) as db:
        for e in events:
            await db.execute(f"INSERT INTO events ({columns}) VALUES ({', '.join('?' * 11)})", (
                secrets.token_urlsafe(16), e.domain, e.recorded_at, e.event, e.recipient, e.message_id, e.email_id,
                json.dumps(e.tags), "|bulk|t2|", e.key, json.dumps(e.payload)))
        rows = await db.fetch("SELECT id, event_key FROM events")
    ids = {key: int(row_id) for row_id, key in rows}
    for e in events:
        e.id = ids[e.key]
    await apply(gateway, tally(events))


async def counter_rows(gateway) -> list[tuple]:
    with gateway.storage.orm():
        return sorted(await Count.filter(domain=TEST_DOMAIN).values_list("dimension", "value", "bucket", "kind", "n"))


def test_months_read_from_monthly_rows_equal_the_days_and_survive_a_backfill(server) -> None:
    gw, run = server.gateway, server.run
    start, end = epoch(2026, 3, 14, 5), epoch(2026, 6, 9, 17)
    run(store(gw, spread_events(start, end, 7 * 3600 + 123)))
    before = run(counter_rows(gw))
    assert any(d == "domain/m" for d, *_ in before) and any(d == "tag/m" for d, *_ in before)

    lo, hi = epoch(2026, 3, 2, 7), epoch(2026, 6, 20)
    by_month = run(queries.overview(gw, TEST_DOMAIN, lo, hi, "month"))
    by_day = run(queries.overview(gw, TEST_DOMAIN, lo, hi, "day"))
    assert by_month.totals == by_day.totals == run(queries.totals(gw, TEST_DOMAIN, lo, hi))
    assert by_month.totals["accepted"] == len(range(start, end, 7 * 3600 + 123))
    months = [queries._month_start(b) for b in by_day.buckets]
    for kind, series in by_day.series.items():
        summed = [sum(n for m, n in zip(months, series, strict=True) if m == b) for b in by_month.buckets]
        assert by_month.series[kind] == summed, kind
    assert run(queries.overview(gw, TEST_DOMAIN, lo, hi, "month", tag="bulk")).totals == by_month.totals
    providers = run(queries.by_provider(gw, TEST_DOMAIN, lo, hi))
    assert sum(row.counts.get("accepted", 0) for row in providers) == by_month.totals["accepted"]

    # From the middle of April: the April monthly rows are summed again from its first days.
    run(backfill(gw, TEST_DOMAIN, since=epoch(2026, 4, 17, 9)))
    assert run(counter_rows(gw)) == before
    run(backfill(gw, TEST_DOMAIN, since=epoch(2026, 5, 1)))
    assert run(counter_rows(gw)) == before
