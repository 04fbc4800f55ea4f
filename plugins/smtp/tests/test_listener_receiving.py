"""The listener's MX role (``receive_domains``) with smtplib against a live gateway: claimed
addresses only, the ``mail_received`` hook's ``InboundMail``, no relaying without AUTH, the size
limit, a failing plugin answered 451, and submission with AUTH unchanged beside it."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
from listener_helpers import LOGIN, smtp_gateway

from postgate import InboundMail, hookimpl
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY

RECEIVE = "in.example.net"


class Mailbox:
    """A plugin reading ``box@in.example.net``; ``broken`` makes it fail to store."""

    def __init__(self) -> None:
        self.received: list[InboundMail] = []
        self.broken = False

    @hookimpl
    async def claims_recipient(self, address: str) -> bool | None:
        return True if address.lower() == f"box@{RECEIVE}" else None

    @hookimpl
    async def mail_received(self, mail: InboundMail) -> None:
        if self.broken:
            raise RuntimeError("storage is down")
        self.received.append(mail)


class Bystander:
    """A second plugin that claims nothing (its ``None`` must not veto the claim)."""

    @hookimpl
    def claims_recipient(self, address: str) -> bool | None:
        return None


def message(to: str, body: str = "hello") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "someone@example.org"
    mail["To"] = to
    mail["Subject"] = "Hi"
    mail.set_content(body)
    return mail


@pytest.fixture
def receiving(live_server):
    box = Mailbox()
    gw = smtp_gateway(live_server, plugins=(box, Bystander()), receive_domains=[RECEIVE.upper()],
                      receive_max_message_kb=4)
    return gw, box


def test_claimed_mail_reaches_the_hook_without_auth(receiving) -> None:
    gw, box = receiving
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.ehlo("mx.example.org")
        code, _ = client.mail("")  # a bounce's null sender is taken too
        assert code == 250
        assert client.rcpt(f"BOX@{RECEIVE}")[0] == 250
        assert client.rcpt(f"other@{RECEIVE}") == (550, b"5.1.1 No such mailbox here")
        code, reply = client.data(message(f"box@{RECEIVE}").as_string())
    assert (code, reply) == (250, b"2.0.0 OK: received")
    [mail] = box.received
    assert mail.mail_from == "" and mail.recipients == (f"BOX@{RECEIVE}",)
    assert b"Subject: Hi" in mail.raw and mail.peer.startswith("127.0.0.1:") and mail.received_at > 0
    assert gw.outbox() == []  # received mail is not sent anywhere


def test_no_relaying_and_no_sending_without_auth(receiving) -> None:
    gw, box = receiving
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.ehlo("mx.example.org")
        assert client.mail(f"noreply@{TEST_DOMAIN}")[0] == 250
        for elsewhere in ("victim@gmail.com", f"reader@{TEST_DOMAIN}", f"box@sub.{RECEIVE}", f"box@{RECEIVE}x"):
            code, reply = client.rcpt(elsewhere)
            assert (code, reply[:5]) == (550, b"5.7.1"), elsewhere
        assert client.rcpt("not an address")[0] == 553
        assert client.docmd("DATA")[0] == 503  # no recipient was taken
    assert box.received == [] and gw.outbox() == []


def test_oversized_mail_is_refused(receiving) -> None:
    gw, box = receiving
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.ehlo("mx.example.org")
        assert client.mail("someone@example.org", ["SIZE=999999"])[0] == 552
        client.rset()
        assert client.mail("someone@example.org")[0] == 250  # no SIZE declared: measured after DATA
        assert client.rcpt(f"box@{RECEIVE}")[0] == 250
        code, _ = client.data(message(f"box@{RECEIVE}", ("x" * 70 + "\n") * 150).as_string())
    assert code == 552 and box.received == []


def test_a_failing_plugin_gets_the_mail_retried(receiving) -> None:
    gw, box = receiving
    box.broken = True
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.ehlo("mx.example.org")
        client.mail("someone@example.org")
        client.rcpt(f"box@{RECEIVE}")
        code, reply = client.data(message(f"box@{RECEIVE}").as_string())
    assert code == 451 and b"storage" not in reply


def test_submission_with_auth_works_beside_receiving(receiving) -> None:
    gw, box = receiving
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.login(LOGIN, TEST_KEY)
        assert client.send_message(message("reader@example.com"), from_addr=f"noreply@{TEST_DOMAIN}") == {}
    assert len(gw.wait_for_outbox(1)) == 1 and box.received == []


def test_without_receive_domains_everything_needs_auth(live_server) -> None:
    box = Mailbox()
    gw = smtp_gateway(live_server, plugins=(box,))
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.ehlo("mx.example.org")
        assert client.mail("someone@example.org")[0] == 530
        assert client.rcpt(f"box@{RECEIVE}")[0] == 530
    assert box.received == []


def test_receive_settings_are_checked() -> None:
    from pydantic import ValidationError

    from postgate_smtp.ingress_settings import IngressSettings

    settings = IngressSettings(receive_domains=["In.Example.NET.", "in.example.net"], receive_max_message_kb=10**5)
    assert settings.receive_domains == ["in.example.net"]
    assert settings.receive_max_message_bytes == settings.listen_max_message_bytes  # never above listen's limit
    for bad in (["example"], ["a@example.net"], ["a..example.net"], ["x" * 64 + ".example.net"], ["ex ample.net"]):
        with pytest.raises(ValidationError):
            IngressSettings(receive_domains=bad)


def test_a_receive_only_listener_needs_no_certificate_and_keeps_auth_behind_tls() -> None:
    from pydantic import ValidationError

    from postgate_smtp.ingress_settings import IngressSettings

    with pytest.raises(ValidationError, match="AUTH needs TLS"):
        IngressSettings(listen="0.0.0.0:25")
    mx = IngressSettings(listen="0.0.0.0:25", receive_domains=[RECEIVE])
    # No certificate: STARTTLS is never offered, so AUTH (which needs it) is never possible here.
    assert mx.listen_tls_cert is None and mx.auth_needs_tls
