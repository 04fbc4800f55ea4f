"""A roll-up write the database refuses is kept and written with the next one: events recorded
while the counters table is gone, and after, end up counted exactly as a backfill counts them
(first opens across the two included)."""

from __future__ import annotations

import uuid

import pytest

import postgate_dashboard
from postgate import Event
from postgate.testing.fixtures import TEST_DOMAIN
from postgate_dashboard.rollups.backfill import backfill
from postgate_dashboard.rollups.buffer import buffer_of, flush
from postgate_dashboard.rollups.models import Count, First, LinkCount, Send


def events(kinds: list[str], recipients: list[str], send: str) -> list[Event]:
    out = []
    for kind in kinds:
        for i, recipient in enumerate(recipients):
            payload = {"event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
                       "user-variables": {"email-id": send}, "client-info": {"bot": "apple" if i % 3 == 0 else ""},
                       "url": f"https://blog.example.com/{i % 2}"}
            out.append(Event(domain=TEST_DOMAIN, event=kind, recipient=recipient, message_id=f"{send}@x",
                             payload=payload, key=f"{kind}:{uuid.uuid4().hex}", email_id=send, tags=["bulk"]))
    return out


async def rows(gateway) -> dict:
    with gateway.storage.orm():
        return {"counts": sorted(await Count.filter(domain=TEST_DOMAIN).values_list("dimension", "value", "bucket", "kind", "n")),
                "sends": sorted(await Send.filter(domain=TEST_DOMAIN).values_list("send_key", "first_at", "last_at")),
                "firsts": sorted(await First.filter(domain=TEST_DOMAIN).values_list("digest", "event_id")),
                "links": sorted(await LinkCount.filter(domain=TEST_DOMAIN).values_list("send_key", "url_key", "kind", "n"))}


async def test_a_refused_write_is_kept_and_written_with_the_next(gateway_factory) -> None:
    gateway = gateway_factory(plugins=[postgate_dashboard])
    await gateway.start()
    members = [f"m{i}@gmail.com" for i in range(6)]
    await gateway.record_events(events(["accepted", "delivered"], members, "s1"))
    await flush(gateway)
    async with gateway.storage.session(write=True) as db:
        await db.execute("ALTER TABLE dashboard_counts RENAME TO dashboard_counts_away")
    await gateway.record_events(events(["opened", "clicked"], members[:4], "s1"))
    with pytest.raises(Exception):  # noqa: B017 - whatever the database says
        await flush(gateway)
    assert buffer_of(gateway).pending.events == 8  # kept
    await gateway.record_events(events(["opened", "clicked"], members, "s1") + events(["accepted"], members, "s2"))
    async with gateway.storage.session(write=True) as db:
        await db.execute("ALTER TABLE dashboard_counts_away RENAME TO dashboard_counts")
    await flush(gateway)
    assert buffer_of(gateway).pending.events == 0
    live = await rows(gateway)
    with gateway.storage.orm():
        opened = await Count.filter(domain=TEST_DOMAIN, dimension="send", value="s1", kind="opened_unique").first()
    assert opened is not None and opened.n == 6  # four firsts from the refused write, two after
    await backfill(gateway, TEST_DOMAIN)
    assert await rows(gateway) == live
