"""The Webhooks page the webhooks plugin adds through the dashboard's ``dashboard_pages`` hook, in a
real browser (Debian's chromium through playwright) against a live gateway POSTing to a real
receiver on the loopback: the log against the plugin's tables, filters in the URL, keyset pages,
the CSV export, the per-URL summary with the live circuit breaker, and sign-in required.
Screenshots go to ``tests/artifacts/screenshots/``."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import postgate_dashboard
import postgate_webhooks.plugin as webhooks_plugin
from plugins.webhooks.tests.webhook_helpers import ALLOW_PRIVATE, Receiver, send, subscribe
from postgate import Gateway
from postgate.testing.fixtures import TEST_DOMAIN, make_settings
from postgate_dashboard.web.accounts import create_user
from postgate_webhooks import dashboard_page
from postgate_webhooks.commands import duration_text
from postgate_webhooks.models import Attempt, Delivery

PASSWORD = "correct horse battery"
#: One quick retry, then an hour: the flaky URL's delivery is left waiting with a known next try.
SETTINGS = {**ALLOW_PRIVATE, "retry_schedule": [0.2, 3600.0], "breaker_failures": 2, "breaker_seconds": 600.0}


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def server(live_server):
    return live_server(plugins=[postgate_dashboard, webhooks_plugin], plugin_settings={"webhooks": SETTINGS})


def stored(server) -> tuple[list[Attempt], list[Delivery]]:
    async def read():
        with server.gateway.storage.orm():
            return (list(await Attempt.all().order_by("-at", "-id")), list(await Delivery.all().order_by("id")))

    return server.run(read())


def wait_for_attempts(server, count: int) -> list[Attempt]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        attempts, _ = stored(server)
        if len(attempts) >= count:
            return attempts
        time.sleep(0.05)
    raise AssertionError(f"only {len(stored(server)[0])} webhook POSTs were made")


def utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def signed_in(browser, server):
    server.run(create_user(server.gateway, "ops@example.com", PASSWORD, "viewer"))
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", "ops@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return context, page


def rows(page) -> list[dict[str, str]]:
    found = []
    for row in page.locator("#webhook-attempts tbody tr").all():
        cells = {name: row.locator(f"td.{name}").inner_text().strip()
                 for name in ("url", "status", "duration", "latency", "next-retry")}
        found.append({"id": row.get_attribute("data-attempt-id"), "outcome": row.get_attribute("data-outcome"),
                      **cells})
    return found


def test_the_webhooks_page_shows_the_log_as_the_tables_hold_it(browser, server, receiver, screenshots,
                                                              monkeypatch) -> None:
    ok, flaky, gone = receiver.url("/ok"), receiver.url("/flaky"), receiver.url("/gone")
    receiver.answers["/flaky"] = [500, 503]
    receiver.answers["/gone"] = [406]
    subscribe(server, "delivered", ok, flaky)
    subscribe(server, "accepted", gone)
    send(server, "ann@example.org")
    attempts = wait_for_attempts(server, 4)  # ok: delivered; flaky: 500 then 503; gone: 406
    time.sleep(0.3)
    attempts, deliveries = stored(server)
    assert sorted(a.outcome for a in attempts) == ["delivered", "rejected", "retry", "retry"]
    waiting = [d for d in deliveries if d.status == "pending"]
    assert [d.url for d in waiting] == [flaky]

    # Without a session the page is not shown, whatever the plugin checks.
    answer = httpx.get(f"{server.url}/dashboard/webhooks", follow_redirects=False, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"].endswith("/dashboard/login")

    context, page = signed_in(browser, server)
    nav = page.locator("header nav a", has_text="Webhooks")
    assert nav.count() == 1
    nav.click()
    assert page.url.endswith("/dashboard/webhooks")
    assert page.locator("header nav a[aria-current=page]").inner_text() == "Webhooks"
    assert "script-src 'self'" in page.goto(page.url).headers["content-security-policy"]

    shown = rows(page)
    assert [int(r["id"]) for r in shown] == [a.id for a in attempts]  # newest first, every POST
    by_id = {a.id: a for a in attempts}
    for row in shown:
        attempt = by_id[int(row["id"])]
        assert row["outcome"] == attempt.outcome and row["url"] == attempt.url
        assert row["status"] == str(attempt.status_code)
        assert attempt.duration_ms is not None and row["duration"] == duration_text(attempt.duration_ms)
        assert row["latency"] != "\u2014"  # each delivery is still in the table
    flaky_rows = [r for r in shown if r["url"] == flaky]
    assert [r["status"] for r in flaky_rows] == ["503", "500"]
    assert flaky_rows[0]["next-retry"] == utc(waiting[0].next_at)  # the delivery's next try
    assert flaky_rows[1]["next-retry"] == "\u2014"  # an older try of it
    assert all(r["next-retry"] == "\u2014" for r in shown if r["url"] != flaky)

    # Per URL: the flaky one failed twice in a row, so this process's breaker opened (threshold 2).
    summary = {row.get_attribute("data-url"): row for row in page.locator("#webhook-urls tbody tr").all()}
    assert set(summary) == {ok, flaky, gone}
    assert summary[flaky].locator("td.failures").inner_text().startswith("2")
    assert summary[flaky].locator("td.breaker").inner_text() == "open"
    assert summary[flaky].locator("td.pending").inner_text() == "1"
    assert summary[flaky].locator("td.next").inner_text() == utc(waiting[0].next_at)
    assert summary[ok].locator("td.breaker").inner_text() == "closed"
    assert summary[ok].locator("td.failures").inner_text() == "0"
    assert summary[gone].locator("td.last").inner_text().startswith("406")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.emulate_media(color_scheme="light")
    page.screenshot(path=screenshots / "webhooks-light.png", full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "webhooks-dark.png", full_page=True)

    # Filters go into the URL, so a link shows the same rows.
    page.select_option("select[name=outcome]", "not-delivered")
    page.click("#webhook-filters button[type=submit]")
    assert "outcome=not-delivered" in page.url
    assert sorted(r["outcome"] for r in rows(page)) == ["rejected", "retry", "retry"]
    page.goto(f"{server.url}/dashboard/webhooks?webhook=accepted")
    assert [r["url"] for r in rows(page)] == [gone]
    assert page.locator("select[name=webhook] option[selected]").inner_text() == "accepted"
    page.goto(f"{server.url}/dashboard/webhooks?" + httpx.QueryParams({"url": flaky}).__str__())
    assert [r["status"] for r in rows(page)] == ["503", "500"]

    # The CSV export holds what the filters select.
    csv_url = page.locator("a[download]").get_attribute("href")
    assert "url=" in csv_url
    answer = context.request.get(server.url + csv_url)
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(answer.text())))
    assert tuple(table[0]) == dashboard_page.CSV_HEADER
    assert [(r[3], r[5], r[6]) for r in table[1:]] == [(flaky, "retry", "503"), (flaky, "retry", "500")]
    flaky_attempts = [a for a in attempts if a.url == flaky]
    assert [float(r[7]) for r in table[1:]] == [a.duration_ms for a in flaky_attempts]  # duration_ms
    assert table[1][9] == utc(waiting[0].next_at) and table[2][9] == ""

    # Keyset pages: two rows a page, every POST once, in order.
    monkeypatch.setattr(dashboard_page, "PAGE_SIZE", 2)
    page.goto(f"{server.url}/dashboard/webhooks")
    seen = []
    for _ in range(5):
        seen += [int(r["id"]) for r in rows(page)]
        following = page.locator("a[rel=next]")
        if not following.count():
            break
        following.click()
    assert seen == [a.id for a in attempts]
    assert page.locator("a", has_text="First page").count() == 1

    # A filter the page cannot use answers 400 with the reason; so does a damaged page link.
    assert page.goto(f"{server.url}/dashboard/webhooks?outcome=lost").status == 400
    assert "no such outcome" in page.inner_text("[role=alert]")
    assert page.goto(f"{server.url}/dashboard/webhooks?after=1'--").status == 400
    assert page.goto(f"{server.url}/dashboard/webhooks.csv?domain=evil.example").status == 400
    context.close()


def test_the_test_routes_sample_post_shows_as_a_test(browser, server, receiver, screenshots) -> None:
    """A sample POST of the test route is a log row tagged **test**, kept out of the per-URL
    summary; a delivery's POST to the same URL is not tagged."""
    from plugins.webhooks.tests.webhook_helpers import api

    url = receiver.url("/tested")
    receiver.answers["/tested"] = [503]
    with api(server) as http:
        tested = http.put(f"/v3/domains/{TEST_DOMAIN}/webhooks/delivered/test", data={"url": url})
    assert tested.json() == {"code": 503, "message": "Test webhook failed: HTTP 503"}
    subscribe(server, "delivered", url)
    send(server, "ann@example.org")
    wait_for_attempts(server, 2)

    context, page = signed_in(browser, server)
    page.goto(f"{server.url}/dashboard/webhooks")
    found = page.locator("#webhook-attempts tbody tr")
    assert found.count() == 2
    delivered, sample = found.nth(0), found.nth(1)
    assert sample.get_attribute("data-test") == "1" and sample.get_attribute("data-outcome") == "failed"
    assert sample.locator("td.outcome .tag.test").inner_text() == "test"
    assert sample.locator("td.status").inner_text() == "503"
    assert delivered.get_attribute("data-test") is None and delivered.locator(".tag.test").count() == 0
    summary = page.locator("#webhook-urls tbody tr")
    assert summary.count() == 1 and summary.locator("td.failures").inner_text() == "0"
    assert summary.locator("td.outcomes").inner_text() == "delivered 1"
    page.set_viewport_size({"width": 1280, "height": 700})
    page.screenshot(path=screenshots / "webhooks-test-post.png", full_page=True)
    context.close()


def test_the_webhooks_plugin_starts_without_the_dashboard(tmp_path) -> None:
    """Its ``dashboard_pages`` implementation is optional: no dashboard, no such hook, no error."""
    gateway = Gateway(make_settings(tmp_path), plugins=[webhooks_plugin], load_entrypoints=False)
    caller = getattr(gateway.pm.hook, "dashboard_pages", None)
    assert caller is not None and not caller.has_spec()


def test_hostile_filters_answer_400_or_nothing(server) -> None:
    """Hostile query strings never reach the database as anything but values."""
    domains = sorted(server.gateway.domains)
    for args in ({"url": "x" * 3000}, {"webhook": "delivered'--"}, {"after": "9" * 40 + "_1"},
                 {"domain": "<script>"}, {"after": "1.5_-3"}):
        with pytest.raises(dashboard_page.FilterError):
            dashboard_page.parse_filters(args, domains)
    assert dashboard_page.parse_filters({"url": "' OR 1=1 --", "after": "12.5_7"}, domains).after == (12.5, 7)


@settings(max_examples=300, deadline=None)
@given(at=st.floats(min_value=0, max_value=4e9, allow_nan=False), row_id=st.integers(1, 2**63 - 1))
def test_a_page_cursor_reads_back_as_the_same_key(at, row_id) -> None:
    """Next-page links carry the stored time exactly: a rounded one would repeat or skip rows."""
    after = dashboard_page.cursor({"at": at, "id": row_id})
    assert dashboard_page.parse_filters({"after": after}, []).after == (at, row_id)
