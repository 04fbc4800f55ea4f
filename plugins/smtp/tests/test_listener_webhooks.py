"""Mail sent through the SMTP listener gets what the HTTP API's mail gets: the suppression
lists (605/607, as Ghost reads them) and signed webhooks. A live gateway with the smtp and
webhooks plugins, Python's smtplib as the client, a webhook receiver on loopback that verifies
signatures with the Python ``mailgun`` SDK."""

from __future__ import annotations

import smtplib
import sys
from email.message import EmailMessage
from pathlib import Path

import postgate_webhooks.plugin as webhooks_plugin
from listener_helpers import LOGIN, smtp_gateway
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "webhooks" / "tests"))
from webhook_helpers import ALLOW_PRIVATE, Receiver, api, signing_key, subscribe  # noqa: E402

READER, BOUNCED, COMPLAINED = "reader@example.com", "gone@example.com", "spam-clicker@example.com"


def test_smtp_mail_meets_the_suppression_lists_and_fires_signed_webhooks(live_server) -> None:
    receiver = Receiver()
    try:
        gw = smtp_gateway(live_server, plugins=(webhooks_plugin,), plugin_settings={"webhooks": ALLOW_PRIVATE})
        receiver.signing_key = signing_key(gw.server)
        subscribe(gw.server, "delivered", receiver.url("/delivered"))
        subscribe(gw.server, "permanent_fail", receiver.url("/failed"))
        with api(gw.server) as http:
            assert http.post(f"/v3/{TEST_DOMAIN}/bounces", data={"address": BOUNCED}).status_code == 200
            assert http.post(f"/v3/{TEST_DOMAIN}/complaints", data={"address": COMPLAINED}).status_code == 200

        message = EmailMessage()
        message["From"] = f"Ghost <noreply@{TEST_DOMAIN}>"
        message["To"] = ", ".join([READER, BOUNCED, COMPLAINED])
        message["Subject"] = "Your sign-in link"
        message["X-Mailgun-Tag"] = "signin"
        message["X-Mailgun-Variables"] = '{"member-id": "m-1"}'
        message.set_content("Click here to sign in.")
        with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
            client.login(LOGIN, TEST_KEY)
            assert client.send_message(message) == {}

        receiver.wait(lambda: receiver.to("/delivered") and len(receiver.to("/failed")) == 2)
        assert receiver.verified and all(receiver.verified)
        [delivered] = receiver.to("/delivered")
        data = delivered.body["event-data"]
        assert data["recipient"] == READER
        assert data["tags"] == ["signin"] and data["user-variables"] == {"member-id": "m-1"}
        failed = {p.body["event-data"]["recipient"]: p.body["event-data"] for p in receiver.to("/failed")}
        assert set(failed) == {BOUNCED, COMPLAINED}
        assert (failed[BOUNCED]["severity"], failed[BOUNCED]["reason"],
                failed[BOUNCED]["delivery-status"]["code"]) == ("permanent", "suppress-bounce", 605)
        assert (failed[COMPLAINED]["reason"], failed[COMPLAINED]["delivery-status"]["code"]) == \
            ("suppress-complaint", 607)

        # Each POST carries the very event GET /events returns, as for mail sent over HTTP.
        events = {e["id"]: e for e in gw.events()}
        for post in receiver.posts:
            assert post.body["event-data"] == events[post.body["event-data"]["id"]]
        # Only the reader's message left Postgate.
        outbox = gw.wait_for_outbox(1)
        assert len(outbox) == 1 and READER in outbox[0].read_text()
    finally:
        receiver.close()
