"""The Reputation page in a real browser (Debian's chromium through playwright) on sends through the
API and the outbox to the SES mailbox simulator's bounce and complaint addresses: the bounce and
complaint rates shown equal the ones counted from ``GET /v3/{domain}/events``; the outbox has no
provider account and no plugin checks the domain, and the page says so. Screenshots go to
``tests/artifacts/screenshots/``."""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx
import pytest

import postgate_dashboard
from postgate.testing.fixtures import TEST_DOMAIN
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.web.reputation import BOUNCE_LIMITS, COMPLAINT_LIMITS, classify, verdict
from postgate.testing.fixtures import basic_auth
from postgate_dashboard.web.accounts import create_user

PASSWORD = "correct horse battery"
SIM = "simulator.amazonses.com"
MEMBERS = ["ann@gmail.com", "bo@hotmail.co.uk", "cy@yahoo.com", "di@icloud.com"]


@pytest.fixture
def server(live_server):
    return live_server(plugins=[postgate_dashboard])


def send_batch(server, addresses: list[str], email_id: str) -> None:
    """One Ghost-shaped batch; returns once the outbox worker has sent it."""
    form = {"from": f"Blog <noreply@{TEST_DOMAIN}>", "subject": "Issue", "html": "<p>Hi</p>",
            "recipient-variables": json.dumps({a: {} for a in addresses}), "v:email-id": email_id, "to": addresses}
    response = httpx.post(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=form, headers=basic_auth(), timeout=30)
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 60
    while server.run(server.gateway.queue.depth()):
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(0.05)


def api_counts(server) -> Counter:
    """accepted, delivered, complained and hard bounces (suppression drops apart), counted from
    every event the events API returns."""
    counts, url = Counter(), f"{server.url}/v3/{TEST_DOMAIN}/events?ascending=yes&limit=300"
    while True:
        page = httpx.get(url, headers=basic_auth(), timeout=30).json()
        if not page["items"]:
            return counts
        for item in page["items"]:
            if item["event"] == "failed":
                if item["severity"] == "permanent" and not item.get("reason", "").startswith("suppress"):
                    counts["bounced"] += 1
            else:
                counts[item["event"]] += 1
        url = page["paging"]["next"]


def signed_in_page(browser, server):
    server.run(create_user(server.gateway, "pub@example.com", PASSWORD, "viewer"))
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", "pub@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return context, page


def pct(top: int, bottom: int) -> str:
    return f"{100 * top / bottom:.2f}%" if bottom else "\u2014"


def test_reputation_shows_the_events_apis_rates_against_the_thresholds(browser, server, screenshots) -> None:
    send_batch(server, MEMBERS + [f"bounce@{SIM}", f"complaint@{SIM}", f"success@{SIM}"], "cccc0000000000000000000c")
    send_batch(server, MEMBERS + [f"complaint@{SIM}"], "dddd0000000000000000000d")
    server.run(flush(server.gateway))
    totals = api_counts(server)
    bounced = totals["bounced"]
    assert bounced >= 1 and totals["complained"] >= 1 and totals["delivered"] >= 8

    context, page = signed_in_page(browser, server)
    page.goto(f"{server.url}/dashboard/reputation?domain={TEST_DOMAIN}")
    assert page.locator("nav a[aria-current=page]").inner_text() == "Reputation"
    sent = totals["delivered"] + bounced  # what the provider took: AWS SES's emails sent
    expected = {"sent_bounce_rate": (bounced, sent, BOUNCE_LIMITS),
                "complained_rate": (totals["complained"], totals["delivered"], COMPLAINT_LIMITS)}
    for name, (n, of, limits) in expected.items():
        section = page.locator(f"section#{name}")
        assert section.locator("svg.gauge").count() == 1
        for window in ("7 days", "30 days"):  # everything was sent just now: both windows hold it all
            row = section.locator(f"tr[data-window='{window}']")
            assert row.locator(".rate").inner_text() == pct(n, of), (name, window)
            assert row.locator(".n").inner_text() == f"{n:,}" and row.locator(".of").inner_text() == f"{of:,}"
            assert row.locator(".level").inner_text() == verdict(*classify(n / of, limits))
    # One hard bounce in 11 sent (9.1%: the second batch's complaint address is a suppression drop,
    # neither a bounce nor a send) is between AWS's review and pause; complaints are far above 0.5%.
    assert 0.05 <= bounced / sent < 0.10
    assert page.locator("section#sent_bounce_rate").get_attribute("data-level") == "warn"
    assert page.locator("section#sent_bounce_rate tr[data-window='7 days'] .level").inner_text() == "AWS SES: account under review"
    assert page.locator("section#complained_rate").get_attribute("data-level") == "bad"
    assert page.locator("#no-account").inner_text() == "no provider reputation (outbox)"
    assert "ses" in page.locator("#no-checks").inner_text()

    page.set_viewport_size({"width": 1280, "height": 900})
    page.emulate_media(color_scheme="light")
    page.screenshot(path=screenshots / "reputation-light.png", full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "reputation-dark.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots / "reputation-phone-dark.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    context.close()
