"""Upstream events are input like any other: hostile fields are stored readable, or skipped."""

from __future__ import annotations

import postgate_mailgun.plugin as relay_plugin
from postgate.domain import EventQuery, Message
from postgate_mailgun.mapping import UpstreamMapper

DOMAIN = "mg.example.com"


def item(row, kind: str, **fields):
    base = {"id": f"ev-{kind}-{row.id}", "event": kind, "recipient": row.address,
            "user-variables": {"postgate-rcpt": str(row.id), "postgate-batch": str(row.batch_id)},
            "message": {"headers": {"message-id": f"up-{row.id}@relay.example.net"}}}
    base.update(fields)
    return base


async def test_hostile_upstream_events_are_cleaned_or_skipped(gateway_factory):
    gw = gateway_factory(plugins=[relay_plugin])
    await gw.start()
    await gw.accept(Message(domain=DOMAIN, sender=f"n@{DOMAIN}", to=["a@example.org", "b@example.org"],
                            subject="s", text="t", tags=["news"]))
    rows = await gw.storage.list_recipients(1, 0, 10)
    deep: dict = {}
    for _ in range(200):
        deep = {"x": deep}
    items = [
        item(rows[0], "failed", severity="permanent", reason="bounce\r\nX-Injected: 1",
             **{"delivery-status": {"code": 10**40, "message": "550\x00 no\u2028such\r\nuser", "mx-host": deep}}),
        item(rows[0], "clicked", url="https://example.org/\r\nSet-Cookie: x", ip=["not", "a", "string"]),
        item(rows[1], "delivered", **{"delivery-status": "not an object"}),
        item(rows[1], "opened", **{"user-variables": {"postgate-rcpt": "9" * 40}}),  # no such row: skipped
        item(rows[1], "opened", recipient="someone-else@example.org"),  # wrong recipient: skipped
        {"event": "delivered", "user-variables": "nope", "message": None},  # not Postgate's mail
        item(rows[1], "stored"),  # no Postgate event
    ]
    mapped = await UpstreamMapper(gw).map("relay.example.net", items)
    assert mapped.skipped == 3
    assert mapped.provider_ids == {rows[0].id: f"up-{rows[0].id}@relay.example.net",
                                   rows[1].id: f"up-{rows[1].id}@relay.example.net"}
    await gw.record_events(mapped.events)
    await gw.record_events(mapped.events)  # read twice: stored once
    stored = await gw.storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=100, live=True))
    upstream = [e for e in stored if (e.key or "").startswith("mailgun:")]
    assert sorted(e.event for e in upstream) == ["clicked", "delivered", "failed"]
    failed = next(e for e in upstream if e.event == "failed")
    status = failed.payload["delivery-status"]
    assert status["code"] == 550 and "\r" not in status["message"] and "\x00" not in status["message"]
    assert "\n" not in failed.payload["reason"] and status["mx-host"].startswith("{")
    clicked = next(e for e in upstream if e.event == "clicked")
    assert "\r" not in clicked.payload["url"] and "\n" not in clicked.payload["url"]
    assert all(e.payload["tags"] == ["news"] for e in upstream)


async def test_upstream_hard_bounces_and_complaints_feed_the_suppression_lists(gateway_factory):
    gw = gateway_factory(plugins=[relay_plugin])
    await gw.start()
    addresses = ["gone@example.org", "angry@example.org", "busy@example.org", "policy@example.org"]
    await gw.accept(Message(domain=DOMAIN, sender=f"n@{DOMAIN}", to=addresses, subject="s", text="t"))
    rows = {row.address: row for row in await gw.storage.list_recipients(1, 0, 10)}
    status = {"code": 550, "message": "5.1.1 The email account that you tried to reach does not exist"}
    mapped = await UpstreamMapper(gw).map("relay.example.net", [
        item(rows["gone@example.org"], "failed", severity="permanent", reason="bounce", **{"delivery-status": status}),
        item(rows["angry@example.org"], "complained"),
        item(rows["busy@example.org"], "failed", severity="temporary", reason="generic",
             **{"delivery-status": {"code": 452, "message": "4.2.2 Mailbox full"}}),
        item(rows["policy@example.org"], "failed", severity="permanent", reason="generic",
             **{"delivery-status": {"code": 554, "message": "5.7.1 Message rejected"}}),
    ])
    assert mapped.skipped == 0
    await gw.record_events(mapped.events)

    # As for SES: a hard bounce and a complaint put the address on their lists; a temporary
    # failure and a policy refusal do not.
    assert await gw.storage.get_suppression(DOMAIN, "bounces", "gone@example.org") is not None
    assert await gw.storage.get_suppression(DOMAIN, "complaints", "angry@example.org") is not None
    for address in ("busy@example.org", "policy@example.org"):
        for kind in ("bounces", "complaints"):
            assert await gw.storage.get_suppression(DOMAIN, kind, address) is None, (address, kind)
