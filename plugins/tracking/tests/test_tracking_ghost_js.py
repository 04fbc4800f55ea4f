"""Ghost's own traffic through the tracking plugin: a newsletter sent by Ghost 6.65's mailgun.js
client (``o:tracking-opens=true``) to the outbox, its pixels fetched over HTTP with the user agents
of real readers, proxies and a scanner, and the ``opened`` events read back by Ghost's paging loop
(``tests/node/ghost_mailgun.js``) with the filter Ghost's analytics job uses for opens."""

from __future__ import annotations

import time

import httpx

from postgate_tracking import plugin
from postgate_tracking.models import TrackingHit
from postgate_tracking.state import tracking_for
from tests.e2e.e2e_harness import Harness, ghost_email_id, ghost_send_call, recipient_message_id
from tracking_helpers import KEYS, local, tracking_settings, tracking_urls

APPLE_MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
APPLE_PRIVACY_PROXY = "Mozilla/5.0"
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel Link Protection)"

#: Who fetches each recipient's pixel, and the ``client-info.bot`` the event must carry.
READERS = {
    "ann@example.com": (APPLE_MAIL, ""),
    "bob@example.com": (OUTLOOK, ""),
    "carol@example.com": (GMAIL_PROXY, "gmail"),
    "dave@example.com": (APPLE_PRIVACY_PROXY, "apple"),
    "erin@example.com": (SCANNER, None),  # a scanner: hidden under the default drop-scanners
}
UNREAD = "frank@example.com"


def test_ghosts_open_rate_counts_readers_and_proxies_but_not_scanners(live_server, monkeypatch) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    server = live_server(plugins=[plugin], plugin_settings=tracking_settings())
    ghost = Harness(server)
    begin = round(time.time() - 5, 3)
    email_id = ghost_email_id()
    recipients = [*READERS, UNREAD]
    call = ghost_send_call(recipients, email_id=email_id)
    call["message"]["html"] = ('<p>Hi {name_html}</p><p><a href="https://blog.example.com/p/post/?a=1&amp;b=2">'
                               'Read</a></p><a href="{unsubscribe_url}">unsubscribe</a>')
    sent = ghost.node([call])[0]
    assert sent["ok"], sent.get("error")
    ghost.wait_events("delivered", len(recipients), timeout=120)

    mails = {m.to: m for m in ghost.emls()}
    assert sorted(mails) == sorted(recipients)
    for address, mail in mails.items():
        pixel, links = tracking_urls(mail.message)
        assert pixel is not None, address  # Ghost asked for opens
        assert links == []  # and not for clicks, which the domain leaves off
        assert 'href="https://blog.example.com/p/post/?a=1&amp;b=2"' in mail.body("html")
    with httpx.Client(timeout=30) as http:
        for address, (user_agent, _) in READERS.items():
            pixel, _ = tracking_urls(mails[address].message)
            answer = http.get(local(server, pixel), headers={"User-Agent": user_agent})
            assert answer.status_code == 200 and answer.content.startswith(b"GIF89a"), address
        # A link checker's HEAD on a pixel is answered but never recorded.
        pixel, _ = tracking_urls(mails[UNREAD].message)
        assert http.head(local(server, pixel), headers={"User-Agent": SCANNER}).status_code == 200
    recorder = tracking_for(server.gateway).recorder
    ghost.wait_for(lambda: recorder.stored >= len(READERS), timeout=60, what="every hit stored")
    stored_at = time.time()
    shown = {address: bot for address, (_, bot) in READERS.items() if bot is not None}

    def visible() -> bool:
        # An event may be stamped up to a second ahead of the clock (a second already shown to a
        # reader is closed) and is listed once the clock is past it; Ghost's own `end` is a
        # minute back. Two seconds after the last hit was stored, every event of these hits is.
        if time.time() < stored_at + 2:
            return False
        answer = ghost.http("GET", f"/v3/{ghost.domain}/events", params={"event": "opened", "limit": 300})
        return len(answer.json()["items"]) >= len(shown)

    ghost.wait_for(visible, timeout=60, what="the opens listed")

    fetched = ghost.ghost_fetch(begin, round(time.time() + 1, 3), event="opened")
    assert fetched["ok"], fetched.get("error")
    assert fetched["exhausted"]
    opens = [event for batch in fetched["batches"] for event in batch]
    assert sorted(e["recipientEmail"] for e in opens) == sorted(shown)
    for event in opens:
        assert event["type"] == "opened" and event["emailId"] == email_id
        assert event["providerId"] == recipient_message_id(email_id, event["recipientEmail"])
    raw = {item["recipient"]: item for page in fetched["pages"] for item in page["items"]}
    assert {address: item["client-info"]["bot"] for address, item in raw.items()} == shown
    assert raw["bob@example.com"]["client-info"]["client-name"] == "Outlook"
    assert raw["carol@example.com"]["machine-rule"] == "ua:GoogleImageProxy"
    assert "machine-rule" not in raw["ann@example.com"]

    async def stored_hits() -> list[tuple[str, str, bool]]:
        with server.gateway.storage.orm():
            return [(h.bot, h.rule, h.recorded) for h in await TrackingHit.all().order_by("id")]

    hits = server.run(stored_hits())
    assert len(hits) == len(READERS)  # the HEAD left nothing
    assert ("generic", "ua:barracuda", False) in hits  # the scanner's hit is kept, as no event
