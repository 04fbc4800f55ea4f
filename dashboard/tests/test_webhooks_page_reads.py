"""The Webhooks page's reads on SQLite and MariaDB: keyset pages over POSTs that share a time, the
filters, the per-URL summary, each POST's duration (page and CSV), and the URL index a URL filter
reads, against rows written straight into the plugin's tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import postgate_dashboard
import postgate_mysql
import postgate_webhooks.plugin as webhooks_plugin
from postgate.testing.mariadb import temporary_database
from postgate_webhooks import dashboard_page
from postgate_webhooks.models import Attempt, Delivery, Subscription


def utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture(params=["sqlite", "mysql"])
async def webhooks_gateway(request, gateway_factory):
    """A started gateway with the dashboard and the webhooks plugin (delivering nothing), on
    SQLite and on MariaDB."""
    from postgate_webhooks.state import webhooks_for

    if request.param == "sqlite":
        gw = gateway_factory(plugins=[postgate_dashboard, webhooks_plugin])
        webhooks_for(gw).quiet = True
        await gw.start()
        yield gw
        return
    async with temporary_database() as url:
        gw = gateway_factory(plugins=[postgate_mysql, postgate_dashboard, webhooks_plugin],
                             backends={"storage": "mysql"}, plugin_settings={"mysql": {"url": url}})
        webhooks_for(gw).quiet = True
        await gw.start()
        yield gw
        await gw.stop()  # before the database is dropped


async def test_pages_and_summary_read_the_tables_on_both_databases(webhooks_gateway) -> None:
    """Keyset pages over POSTs that share a time (ties go by id), filters, and the per-URL summary
    (failures in a row up to the newest success, waiting deliveries, next retry)."""
    gw = webhooks_gateway
    domain = sorted(gw.domains)[0]
    dead, fine = "https://dead.example/hook", "https://fine.example/hook"
    with gw.storage.orm():
        await Subscription.bulk_create([Subscription(domain=domain, webhook="delivered", url=url, position=i,
                                                     created_at=1.0) for i, url in enumerate((dead, fine))])
        waiting = await Delivery.create(domain=domain, webhook="delivered", url=dead, event_id="e-dead",
                                        event_data="{}", status="pending", attempts=3, enqueued_at=1000.0,
                                        next_at=5000.0)
        done = await Delivery.create(domain=domain, webhook="delivered", url=fine, event_id="e-fine",
                                     event_data="{}", status="delivered", attempts=1, enqueued_at=1000.0,
                                     next_at=1000.0, finished_at=1000.5)
        rows = [Attempt(delivery_id=waiting.id, at=at, domain=domain, webhook="delivered", url=dead,
                        event_id="e-dead", status_code=code, outcome=outcome, duration_ms=ms)
                for at, code, outcome, ms in ((1001.0, 200, "delivered", 8.25), (2000.0, 500, "retry", 120.5),
                                              (2000.0, 502, "retry", 95.0), (3000.0, None, "retry", 10000.125))]
        rows += [Attempt(delivery_id=done.id, at=1000.5, domain=domain, webhook="delivered", url=fine,
                         event_id="e-fine", status_code=200, outcome="delivered")]  # logged before durations
        await Attempt.bulk_create(rows)
        stored_ids = [a.id for a in await Attempt.all().order_by("-at", "-id")]

    filters, seen = dashboard_page.Filters(), []
    while True:
        page = await dashboard_page.attempt_rows(gw, filters, 2)
        seen += [r["id"] for r in page]
        if len(page) < 2:
            break
        filters = dashboard_page.parse_filters({"after": dashboard_page.cursor(page[-1])}, [domain])
    assert seen == stored_ids and len(seen) == 5
    newest = (await dashboard_page.attempt_rows(gw, dashboard_page.Filters(), 1))[0]
    assert newest["url"] == dead and newest["status"] is None and newest["next_at"] == 5000.0
    assert newest["latency"] == 2000.0
    failed = await dashboard_page.attempt_rows(gw, dashboard_page.Filters(domain=domain, outcome="not-delivered"), 10)
    assert [r["status"] for r in failed] == [None, 502, 500]
    assert [r["next_at"] for r in failed] == [5000.0, None, None]  # only on the delivery's newest POST
    assert [r["duration_ms"] for r in failed] == [10000.125, 95.0, 120.5]
    exported = [row async for row in dashboard_page.csv_rows(gw, dashboard_page.Filters(domain=domain))]
    duration = dashboard_page.CSV_HEADER.index("duration_ms")
    assert [(r[3], r[duration]) for r in exported] == [(dead, 10000.125), (dead, 95.0), (dead, 120.5),
                                                        (dead, 8.25), (fine, None)]
    only_fine = await dashboard_page.attempt_rows(gw, dashboard_page.Filters(url=fine), 10)
    assert [r["event_id"] for r in only_fine] == ["e-fine"]

    summary = {row["raw_url"]: row for row in await dashboard_page.url_rows(gw, dashboard_page.Filters(), 4000.0)}
    assert summary[dead]["failures"] == 3 and summary[dead]["pending"] == 1
    assert summary[dead]["next_at"] == utc(5000.0) and summary[dead]["outcomes"] == {"retry": 3, "delivered": 1}
    assert summary[dead]["breaker"] is None  # this gateway delivers nothing: no breaker of its own
    assert summary[fine]["failures"] == 0 and summary[fine]["pending"] == 0 and summary[fine]["last_status"] == 200


async def test_a_url_filter_reads_the_url_index_in_page_order(webhooks_gateway) -> None:
    """Filtered by a URL (with or without its domain), the log's page is read from the
    (url, at, id) index: only that URL's POSTs, already newest first, so a URL with one old POST
    costs no walk through the whole log."""
    gw = webhooks_gateway
    domain = sorted(gw.domains)[0]
    mysql = gw.storage.dialect == "mysql"
    with gw.storage.orm():  # enough other POSTs that reading the time index would be a real choice
        await Attempt.bulk_create([Attempt(delivery_id=n, at=float(n), domain=domain, webhook="delivered",
                                           url=f"https://busy.example/{n % 5}", event_id=f"e{n}", status_code=200,
                                           outcome="delivered") for n in range(2000)])
        await Attempt.create(delivery_id=0, at=0.5, domain=domain, webhook="delivered", url="https://rare.example/",
                             event_id="rare", status_code=200, outcome="delivered")
    if mysql:
        async with gw.storage.session() as db:
            await db.fetch("ANALYZE TABLE webhooks_attempts")
    for filters in (dashboard_page.Filters(url="https://rare.example/"),
                    dashboard_page.Filters(domain=domain, url="https://rare.example/"),
                    dashboard_page.Filters(url="https://rare.example/", after=(1.0, 10**9))):
        with gw.storage.orm():
            query = dashboard_page._query(filters).limit(dashboard_page.PAGE_SIZE + 1)
            query._choose_db_if_not_chosen()
            query._make_query()
            sql, params = query.query.get_parameterized_sql()
        async with gw.storage.session() as db:
            if mysql:  # id, select_type, table, type, possible_keys, key, key_len, ref, rows, Extra
                [plan] = await db.fetch("EXPLAIN " + sql.replace("%s", "?"), params)
                assert plan[5] == "idx_webhooks_at_url_33aa6c" and "filesort" not in (plan[9] or ""), plan
            else:
                plan = " ".join(str(row[-1]) for row in await db.fetch("EXPLAIN QUERY PLAN " + sql, params))
                assert "USING INDEX idx_webhooks_at_url_33aa6c" in plan and "TEMP B-TREE" not in plan, plan
        rows = await dashboard_page.attempt_rows(gw, filters, dashboard_page.PAGE_SIZE + 1)
        assert [r["event_id"] for r in rows] == ["rare"]
        summary = await dashboard_page.url_rows(gw, filters, 10.0)
        assert [(u["raw_url"], u["outcomes"]) for u in summary] == [("https://rare.example/", {"delivered": 1})]


async def test_sample_posts_of_the_test_route_are_marked_and_left_out_of_the_summary(webhooks_gateway) -> None:
    """A test row shows in the log (page and CSV) marked as a test, with no delivery; the per-URL
    summary, which estimates the delivery loop's breakers, counts only deliveries' POSTs."""
    gw = webhooks_gateway
    domain = sorted(gw.domains)[0]
    url = "https://tested.example/hook"
    with gw.storage.orm():
        waiting = await Delivery.create(domain=domain, webhook="opened", url=url, event_id="e-real", event_data="{}",
                                        status="delivered", attempts=1, enqueued_at=10.0, next_at=10.0,
                                        finished_at=11.0)
        await Attempt.create(delivery_id=waiting.id, at=11.0, domain=domain, webhook="opened", url=url,
                             event_id="e-real", status_code=200, outcome="delivered", duration_ms=3.0)
    async with gw.storage.session(write=True) as db:  # as the test route writes it
        from postgate_webhooks.queue import log_test
        for at in (12.0, 13.0):
            await log_test(db, (at, domain, "opened", url, "test-event", 503, "failed", "HTTP 503", 4.5))

    rows = await dashboard_page.attempt_rows(gw, dashboard_page.Filters(url=url), 10)
    assert [(r["event_id"], r["outcome"], r["test"], r["delivery"]) for r in rows] == [
        ("test-event", "failed", True, None), ("test-event", "failed", True, None),
        ("e-real", "delivered", False, waiting.id)]
    exported = [row async for row in dashboard_page.csv_rows(gw, dashboard_page.Filters(url=url))]
    test, delivery = dashboard_page.CSV_HEADER.index("test"), dashboard_page.CSV_HEADER.index("delivery_id")
    assert [(r[test], r[delivery]) for r in exported] == [(1, None), (1, None), (0, waiting.id)]
    [summary] = [r for r in await dashboard_page.url_rows(gw, dashboard_page.Filters(), 20.0) if r["raw_url"] == url]
    assert summary["outcomes"] == {"delivered": 1} and summary["failures"] == 0 and summary["last_status"] == 200
