"""The bounce explorer's failure roll-ups on SQLite and MariaDB: a Ghost-shaped send through the API
and the outbox (the simulator's bounce, complaint, suppression-list drop and deferral) plus failures
with assorted SMTP and enhanced codes recorded through ``gateway.record_events``; every group equals
the count made from ``GET /v3/{domain}/events`` and the recipients the explorer reads for it, and a
backfill on emptied roll-ups gives it back."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter

import httpx
import pytest

import postgate_dashboard
import postgate_mysql

from postgate import Event
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate.testing.mariadb import create_database, drop_database
from postgate_dashboard.rollups import queries
from postgate_dashboard.rollups.backfill import backfill
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.rollups.models import Failure
from postgate_dashboard.web.bounces_view import Group, recipients_page

SIM = "simulator.amazonses.com"
PROVIDER_OF = {"gmail.com": "gmail", "hotmail.co.uk": "microsoft", "yahoo.com": "yahoo", "icloud.com": "icloud",
               "example.com": "other", SIM: "other"}


@pytest.fixture(params=["sqlite", "mysql"])
def server(request, live_server):
    if request.param == "sqlite":
        yield live_server(plugins=[postgate_dashboard])
        return
    url = asyncio.run(create_database())
    try:
        srv = live_server(plugins=[postgate_mysql, postgate_dashboard], backends={"storage": "mysql"},
                          plugin_settings={"mysql": {"url": url}})
        yield srv
        srv.stop()  # before the database is dropped
    finally:
        asyncio.run(drop_database(url))


def send_ghost_batch(server, addresses: list[str]) -> None:
    """POST one newsletter batch as Ghost does and wait for the outbox worker to send it."""
    variables = {a: {"name": f"Member {i}"} for i, a in enumerate(addresses)}
    form = {"from": f"My Blog <noreply@{TEST_DOMAIN}>", "subject": "Hello", "html": "<p>Hi</p>",
            "recipient-variables": json.dumps(variables), "v:email-id": "ghost1", "to": addresses}
    response = httpx.post(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=form, headers=basic_auth(), timeout=30)
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 60
    while server.run(server.gateway.queue.depth()):
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(0.05)


def failed(recipient: str, *, severity: str, reason: str, code: object, enhanced: str | None) -> Event:
    status = {"code": code, "message": "mailbox unavailable"}
    if enhanced is not None:
        status["enhanced-code"] = enhanced
    payload = {"event": "failed", "severity": severity, "reason": reason, "recipient": recipient,
               "recipient-domain": recipient.rpartition("@")[2], "delivery-status": status,
               "user-variables": {"email-id": "f1"}, "message": {"headers": {"message-id": f"f1@{TEST_DOMAIN}"}}}
    return Event(domain=TEST_DOMAIN, event="failed", recipient=recipient, message_id=f"f1@{TEST_DOMAIN}",
                 payload=payload, key=f"failed:{uuid.uuid4().hex}", email_id="f1", severity=severity)


def api_groups(server) -> Counter:
    """Failure groups counted the slow way from the events API (following its pages)."""
    groups: Counter = Counter()
    url = f"{server.url}/v3/{TEST_DOMAIN}/events?ascending=yes&limit=300"
    while True:
        page = httpx.get(url, headers=basic_auth(), timeout=30).json()
        if not page["items"]:
            return groups
        for item in page["items"]:
            if item["event"] == "complained":
                kind = "complaint"
            elif item["event"] != "failed":
                continue
            elif item.get("severity") != "permanent":
                kind = "soft"
            else:
                kind = "suppressed" if item.get("reason", "").startswith("suppress-") else "hard"
            status = item.get("delivery-status") or {}
            code = "" if status.get("code") in (None, "") else str(status["code"])
            enhanced = status.get("enhanced-code") or ""
            groups[(kind, code, enhanced, PROVIDER_OF[item["recipient"].rpartition("@")[2].lower()])] += 1
        url = page["paging"]["next"]


def shown(server, start: float, end: float) -> Counter:
    rows = server.run(queries.failure_groups(server.gateway, TEST_DOMAIN, start, end))
    return Counter({(g.kind, g.code, g.enhanced, g.provider): g.n for g in rows})


async def wipe(gateway) -> None:
    with gateway.storage.orm():
        await Failure.filter(domain=TEST_DOMAIN).delete()


def test_failure_groups_equal_the_events_api(server) -> None:
    gw = server.gateway
    send_ghost_batch(server, ["ann@gmail.com"] + [f"{k}@{SIM}" for k in ("bounce", "complaint", "suppressionlist",
                                                                         "tempfail")])
    server.run(gw.record_events([
        failed("bo@hotmail.co.uk", severity="permanent", reason="bounce", code=550, enhanced="5.1.1"),
        failed("cy@yahoo.com", severity="permanent", reason="bounce", code=550, enhanced="5.1.1"),
        failed("di@gmail.com", severity="permanent", reason="bounce", code="550", enhanced="5.7.26"),
        failed("eve@gmail.com", severity="temporary", reason="generic", code=421, enhanced="4.7.28"),
        failed("fay@icloud.com", severity="temporary", reason="generic", code=451, enhanced=None),
        failed("gus@example.com", severity="permanent", reason="suppress-bounce", code=605, enhanced=None),
    ]))
    server.run(flush(gw))
    want = api_groups(server)
    assert {k[0] for k in want} == {"hard", "soft", "suppressed", "complaint"}, want
    assert want[("hard", "550", "5.1.1", "microsoft")] == 1 and want[("hard", "550", "5.7.26", "gmail")] == 1
    now = time.time()
    assert shown(server, now - 3600, now + 3600) == want
    # A period of days reads whole days from the daily rows and the edges from the hourly ones.
    wide = shown(server, now - 3 * 86_400 + 1800, now + 3 * 86_400 - 1800)
    assert wide == want
    assert shown(server, now - 30 * 86_400, now - 20 * 86_400) == Counter()

    # Each group's recipients, read through the storage's event pages, number what the group counts.
    time.sleep(1.1)  # pages show a second once it is closed to writers
    start, end = int(now) - 3600, int(now) + 3600
    for (kind, code, enhanced, provider), n in want.items():
        group = Group(kind, code, enhanced, provider)
        page = server.run(recipients_page(gw, TEST_DOMAIN, group, start, end, None))
        assert len(page["rows"]) == n and page["next_after"] is None, group
        assert all((r["code"], r["enhanced"], r["provider"]) == (code, enhanced, provider) for r in page["rows"])
    assert len(server.run(recipients_page(gw, TEST_DOMAIN, Group("hard"), start, end, None))["rows"]) == sum(
        n for key, n in want.items() if key[0] == "hard")

    server.run(wipe(gw))
    assert shown(server, now - 3600, now + 3600) == Counter()
    server.run(backfill(gw, TEST_DOMAIN))
    assert shown(server, now - 3600, now + 3600) == want
    server.run(backfill(gw, TEST_DOMAIN, since=now - 86_400))  # a partial rebuild counts nothing twice
    assert shown(server, now - 3 * 86_400, now + 3600) == want
