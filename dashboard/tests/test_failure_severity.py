"""A ``failed`` event without a severity is temporary, in the core's ``/v3/{domain}/stats`` (as Ghost
reads it) and in the dashboard's roll-ups, counters and bounce explorer alike."""

from __future__ import annotations

import time
import uuid

import httpx

import postgate_dashboard
from postgate import Event
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate_dashboard.rollups import queries
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.web.bounces_view import Group, recipients_page


def failed(recipient: str, severity: str | None) -> Event:
    payload = {"event": "failed", "reason": "generic", "recipient": recipient,
               "delivery-status": {"code": 451, "message": "try later"},
               "user-variables": {"email-id": "sev1"}, "message": {"headers": {"message-id": f"sev1@{TEST_DOMAIN}"}}}
    if severity is not None:
        payload["severity"] = severity
    return Event(domain=TEST_DOMAIN, event="failed", recipient=recipient, message_id=f"sev1@{TEST_DOMAIN}",
                 payload=payload, key=f"failed:{uuid.uuid4().hex}", email_id="sev1", severity=severity)


def test_a_failure_without_severity_counts_as_temporary_everywhere(live_server) -> None:
    server = live_server(plugins=[postgate_dashboard])
    gw = server.gateway
    server.run(gw.record_events([failed("ann@example.com", None), failed("bob@example.com", None),
                                 failed("cy@example.com", "temporary"), failed("di@example.com", "permanent")]))
    server.run(flush(gw))

    core = httpx.get(f"{server.url}/v3/{TEST_DOMAIN}/stats/total?event=failed&duration=1d&resolution=day",
                     headers=basic_auth(), timeout=30).json()
    core_failed = {"temporary": 0, "permanent": 0}
    for entry in core["stats"]:
        for side in core_failed:
            core_failed[side] += entry["failed"][side]["total"]
    assert core_failed == {"temporary": 3, "permanent": 1}

    now = time.time()
    totals = server.run(queries.overview(gw, TEST_DOMAIN, now - 3600, now + 3600, "hour")).totals
    assert (totals.get("failed_temporary", 0), totals.get("failed_permanent", 0)) == (3, 1)
    send = server.run(queries.send_summary(gw, TEST_DOMAIN, "sev1"))
    assert (send.counts.get("failed_temporary", 0), send.counts.get("failed_permanent", 0)) == (3, 1)

    groups = {g.kind: g.n for g in server.run(queries.failure_groups(gw, TEST_DOMAIN, now - 3600, now + 3600))}
    assert groups == {"soft": 3, "hard": 1}
    time.sleep(1.1)  # event pages show a second once it is closed to writers
    soft = server.run(recipients_page(gw, TEST_DOMAIN, Group("soft"), int(now) - 3600, int(now) + 3600, None))
    assert sorted(row["recipient"] for row in soft["rows"]) == ["ann@example.com", "bob@example.com", "cy@example.com"]
