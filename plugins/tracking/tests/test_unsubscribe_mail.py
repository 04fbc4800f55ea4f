"""Unsubscribing by mail end to end: a Ghost-shaped batch through the outbox, the ``mailto:`` of its
``List-Unsubscribe`` sent to with smtplib (no AUTH) to the smtp plugin's listener on a loopback
port, and the ``unsubscribes`` entry and ``unsubscribed`` event it leaves; forged addresses,
relaying and oversized mail refused at the door."""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from pathlib import Path

import httpx
import postgate_smtp.plugin as smtp_plugin
import pytest

from postgate.testing.fixtures import TEST_DOMAIN, basic_auth, free_port
from postgate_tracking import plugin
from postgate_tracking.tokens import Signer
from postgate_tracking.unsubscribe import DOMAIN
from postgate_tracking.unsubscribe_address import local_part
from tracking_helpers import KEYS, events, outbox, send_batch, tracking_settings

MAIL_DOMAIN = "unsubscribe.news.example.com"
GHOST_TAGS = ["bulk-email", "ghost-email"]


@pytest.fixture
def mailbox(live_server, monkeypatch):
    """A gateway with tracking (``unsubscribe_mail_domain``) and the listener receiving for it."""
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    port = free_port()
    smtp = {"listen": f"127.0.0.1:{port}", "receive_domains": [MAIL_DOMAIN], "receive_max_message_kb": 8}
    server = live_server(plugins=[smtp_plugin, plugin],
                         plugin_settings={**tracking_settings(unsubscribe_mail_domain=MAIL_DOMAIN), "smtp": smtp})
    return server, port


def mail_to(address: str, body: str = "unsubscribe") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "reader@example.org"
    message["To"] = address
    message["Subject"] = "Unsubscribe"
    message.set_content(body)
    return message


def send_mail(port: int, address: str, body: str = "unsubscribe") -> None:
    """One message to ``address`` through the listener, without AUTH (as an MX receives it)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.send_message(mail_to(address, body), from_addr="reader@example.org", to_addrs=[address])


def rcpt_reply(port: int, address: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        assert client.mail("reader@example.org")[0] == 250
        return client.rcpt(address)


def unsubscribes(server) -> dict[str, list[str]]:
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as http:
        answer = http.get(f"/v3/{TEST_DOMAIN}/unsubscribes")
    assert answer.status_code == 200, answer.text
    return {item["address"]: sorted(item["tags"]) for item in answer.json()["items"]}


def list_unsubscribe(mail) -> list[str]:
    return re.findall(r"<([^>]+)>", str(mail["List-Unsubscribe"]))


def test_mail_to_the_list_unsubscribe_address_unsubscribes_the_recipient(mailbox) -> None:
    server, port = mailbox
    send_batch(server, ["ann@example.com", "bob@example.com"], "ghost-mail-1")
    mails = {m["To"].addresses[0].addr_spec: m for m in outbox(server, 2)}
    ann, bob = list_unsubscribe(mails["ann@example.com"]), list_unsubscribe(mails["bob@example.com"])
    assert len(ann) == 2 and ann[0].startswith("https://blog.example.com/unsubscribe/")  # Ghost's own link
    assert ann[1].startswith("mailto:u-") and ann[1].endswith("@" + MAIL_DOMAIN)
    assert ann[1] != bob[1] and "%" not in str(mails["ann@example.com"]["List-Unsubscribe"])
    assert mails["ann@example.com"].get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    address = ann[1].removeprefix("mailto:")
    local = address.partition("@")[0]
    assert len(local) <= 64 and re.fullmatch(r"u-[a-z2-7]+", local)

    raw = b"".join(path.read_bytes() for path in Path(server.gateway.delivery.folder).rglob("*.eml"))
    assert f"<mailto:{address}>".encode() in raw  # written as is, never an encoded word

    send_mail(port, address)
    assert unsubscribes(server) == {"ann@example.com": GHOST_TAGS}
    found = events(server, "unsubscribed", 1)
    assert [event["recipient"] for event in found] == ["ann@example.com"]
    event = found[0]
    assert sorted(event["tags"]) == GHOST_TAGS and event["unsubscribe-scope"] == "tags"
    assert event["user-variables"] == {"email-id": "ghost-mail-1"}
    assert event["message"]["headers"]["message-id"] == mails["ann@example.com"]["Message-ID"].strip("<>")

    send_mail(port, address.upper())  # again, and with the case some servers give local parts
    assert len(events(server, "unsubscribed", 2, timeout=1.0)) == 1
    assert unsubscribes(server) == {"ann@example.com": GHOST_TAGS}


def test_forged_addresses_relaying_and_big_mail_are_refused(mailbox) -> None:
    server, port = mailbox
    send_batch(server, ["ann@example.com"], "ghost-mail-2")
    address = list_unsubscribe(outbox(server, 1)[0])[1].removeprefix("mailto:")
    local, _, domain = address.partition("@")
    flipped = local[:10] + ("a" if local[10] != "a" else "b") + local[11:]
    stranger = local_part(Signer([("k9", b"another-secret-0123456789")]), 1, 1, DOMAIN)
    for forged in (f"{flipped}@{domain}", f"{stranger}@{domain}", f"u-{local[2:-1]}@{domain}",
                   f"postmaster@{domain}", f"{local}@{TEST_DOMAIN}"):
        code, text = rcpt_reply(port, forged)
        assert code == 550, (forged, code, text)
    for elsewhere in ("someone@gmail.com", f"ann@{TEST_DOMAIN}", f"{local}@evil.example.net"):
        code, text = rcpt_reply(port, elsewhere)
        assert (code, text[:5]) == (550, b"5.7.1"), (elsewhere, code, text)
    with pytest.raises(smtplib.SMTPException) as refused:  # receive_max_message_kb = 8
        send_mail(port, address, body="x" * 20_000)
    assert "552" in str(refused.value)
    assert unsubscribes(server) == {}
    assert events(server, "unsubscribed", 1, timeout=0.5) == []

    send_mail(port, address)  # the genuine one still works
    assert unsubscribes(server) == {"ann@example.com": GHOST_TAGS}
