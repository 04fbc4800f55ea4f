"""``postgate dashboard backfill`` on a database whose events were recorded before the dashboard
was installed: it builds the roll-ups the live hook would have, and running it again changes
nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import postgate_dashboard
from postgate import Event, Gateway
from postgate.testing.fixtures import TEST_DOMAIN, make_settings
from postgate_dashboard.rollups import queries


def event(kind: str, recipient: str, email_id: str) -> Event:
    payload = {"event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
               "tags": ["news"], "user-variables": {"email-id": email_id},
               "message": {"headers": {"message-id": f"{email_id}@{TEST_DOMAIN}"}}}
    return Event(domain=TEST_DOMAIN, event=kind, recipient=recipient, message_id=f"{email_id}@{TEST_DOMAIN}",
                 payload=payload, key=uuid.uuid4().hex, email_id=email_id, tags=["news"])


def run(data_dir, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(POSTGATE_LOAD_PLUGINS='["dashboard"]', POSTGATE_DATA_DIR=str(data_dir), POSTGATE_DOMAIN=TEST_DOMAIN)
    return subprocess.run([sys.executable, "-m", "postgate", "dashboard", "backfill", *args], cwd=data_dir,
                          env=env, capture_output=True, text=True, timeout=120)


async def test_backfill_builds_the_rollups_of_earlier_events(gateway_factory, tmp_path) -> None:
    before = gateway_factory()  # no dashboard: nothing is rolled up
    await before.start()
    events = [event("accepted", f"m{i}@gmail.com", "e1") for i in range(5)]
    events += [event("delivered", f"m{i}@gmail.com", "e1") for i in range(4)]
    events += [event("opened", "m1@gmail.com", "e1"), event("opened", "m1@gmail.com", "e1"),
               event("opened", "m2@gmail.com", "e1"), event("accepted", "x@yahoo.com", "e2")]
    await before.record_events(events)
    data_dir = before.settings.data_dir
    await before.stop()

    done = run(data_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{TEST_DOMAIN}: 13 events replayed into 2 sends"
    again = run(data_dir, "--domain", TEST_DOMAIN, "--since", "2020-01-01")
    assert again.returncode == 0, again.stderr
    bad = run(data_dir, "--since", "yesterday")
    assert bad.returncode != 0 and "is not a date or time" in bad.stderr

    after = Gateway(make_settings(data_dir), plugins=[postgate_dashboard], load_entrypoints=False)
    await after.start()
    try:
        summary = await queries.send_summary(after, TEST_DOMAIN, "e1")
        overview = await queries.overview(after, TEST_DOMAIN, time.time() - 86400, time.time() + 3600, "day")
    finally:
        await after.stop()
    assert summary.counts == {"accepted": 5, "delivered": 4, "opened": 3, "opened_unique": 2,
                              "opened_unique_human": 2}
    sent = overview.totals["delivered"] + overview.totals.get("failed_permanent", 0) - overview.totals.get("suppressed", 0)
    assert overview.totals["accepted"] == 6 and overview.rates["delivered_rate"] == 4 / sent


async def test_rollups_waiting_at_shutdown_are_written(gateway_factory) -> None:
    first = gateway_factory(plugins=[postgate_dashboard])
    await first.start()
    await first.record_events([event("accepted", f"w{i}@gmail.com", "e9") for i in range(3)])
    data_dir = first.settings.data_dir
    await first.stop()  # the shutdown hook writes what the background writer had not yet

    again = Gateway(make_settings(data_dir), plugins=[postgate_dashboard], load_entrypoints=False)
    await again.start()
    try:
        summary = await queries.send_summary(again, TEST_DOMAIN, "e9")
    finally:
        await again.stop()
    assert summary is not None and summary.counts == {"accepted": 3}
