"""The SMTP listener with Python's smtplib as the client, against a live gateway: STARTTLS with a
self-signed certificate, Mailgun's AUTH convention, X-Mailgun-* options, and every refusal."""

from __future__ import annotations

import email
import email.policy
import smtplib
from email.message import EmailMessage

import pytest
from listener_helpers import LOGIN, smtp_gateway, self_signed

from postgate import hookimpl
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY


def ghost_like_message(**headers: str | list[str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Ghost <noreply@{TEST_DOMAIN}>"
    message["To"] = "reader@example.com"
    message["Subject"] = "Your sign-in link"
    for name, value in headers.items():
        for one in value if isinstance(value, list) else [value]:
            message[name.replace("_", "-")] = one
    message.set_content("Click here to sign in.")
    message.add_alternative("<p>Click <a href='https://example.com/x'>here</a>.</p>", subtype="html")
    return message


def test_starttls_auth_send_reaches_outbox_and_events(live_server, tmp_path):
    cert = self_signed(tmp_path / "tls")
    gw = smtp_gateway(live_server, host="0.0.0.0", listen_tls_cert=str(cert.cert), listen_tls_key=str(cert.key))
    message = ghost_like_message(
        X_Mailgun_Tag=["signin", "transactional"],
        X_Mailgun_Variables='{"member-id": "m-1", "n": 7}',
        Bcc="hidden@example.com",
        Message_ID="<signin-1@ghost.example>",
    )
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.ehlo("ghost.example")
        assert client.has_extn("starttls")
        assert not client.has_extn("auth")  # not on a clear connection to a non-loopback listener
        assert client.docmd("AUTH", "PLAIN AHBvc3RtYXN0ZXIAeA==")[0] == 538
        client.starttls(context=cert.client_context())
        client.ehlo("ghost.example")
        assert "PLAIN" in client.esmtp_features["auth"] and "LOGIN" in client.esmtp_features["auth"]
        client.login(LOGIN, TEST_KEY)
        refused = client.send_message(message, to_addrs=["reader@example.com", "hidden@example.com"])
        assert refused == {}
        code, reply = client.noop()
        assert code == 250
    [delivered_to_reader, delivered_to_hidden] = sorted(gw.wait_for_outbox(2), key=lambda p: "hidden" in p.read_text())
    sent = email.message_from_bytes(delivered_to_reader.read_bytes(), policy=email.policy.default)
    assert sent["Subject"] == "Your sign-in link"
    assert sent["Message-ID"] == "<signin-1@ghost.example>"
    for stripped in ("Bcc", "X-Mailgun-Tag", "X-Mailgun-Variables"):
        assert sent[stripped] is None, stripped
    assert "Click here to sign in." in sent.get_body(("plain",)).get_content()
    delivered = gw.wait_for_event("delivered")
    accepted = gw.events(event="accepted")
    assert {e["recipient"] for e in accepted} == {"reader@example.com", "hidden@example.com"}
    for event in accepted + delivered:
        assert event["message"]["headers"]["message-id"] == "signin-1@ghost.example"
        assert event["tags"] == ["signin", "transactional"]
        assert event["user-variables"] == {"member-id": "m-1", "n": "7"}


def test_the_reply_names_the_queued_id(live_server):
    gw = smtp_gateway(live_server)
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.login(LOGIN, TEST_KEY)  # a loopback listener: AUTH without STARTTLS
        client.mail(f"app@{TEST_DOMAIN}")
        client.rcpt("reader@example.com")
        code, reply = client.data(ghost_like_message().as_bytes(policy=email.policy.SMTP))
    assert code == 250
    queued = reply.decode().rsplit(" ", 1)[1]
    assert queued.startswith("<") and queued.endswith(f"@{TEST_DOMAIN}>")
    [accepted] = gw.wait_for_event("accepted")
    assert f"<{accepted['message']['headers']['message-id']}>" == queued
    [eml] = gw.wait_for_outbox(1)
    assert f"Message-ID: {queued}".encode() in eml.read_bytes()


def test_relaying_without_auth_is_refused_and_nothing_is_accepted(live_server):
    gw = smtp_gateway(live_server)
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.ehlo("relay.example")
        assert client.docmd("MAIL", f"FROM:<app@{TEST_DOMAIN}>")[0] == 530
        assert client.docmd("RCPT", "TO:<victim@example.com>")[0] in (503, 530)
        assert client.docmd("DATA")[0] in (503, 530)
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(f"app@{TEST_DOMAIN}", ["victim@example.com"], b"Subject: spam\r\n\r\nspam\r\n")
        assert refused.value.smtp_code == 530
    assert gw.events() == []
    assert gw.outbox() == []


@pytest.mark.parametrize("login, password", [
    (LOGIN, "key-wrong"),
    ("postmaster@unknown.example", TEST_KEY),
    ("postmaster", TEST_KEY),
    (f"postmaster@{TEST_DOMAIN}", ""),
    (f"other@{TEST_DOMAIN}", "key-other"),  # a key of another domain
])
def test_wrong_credentials_are_refused(live_server, login, password):
    gw = smtp_gateway(live_server, background=False,
                      settings={"domains": {"other.example.com": {"api_key": "key-other"}}})
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login(login, password)
        assert refused.value.smtp_code in (535, 501)
        assert client.docmd("MAIL", f"FROM:<app@{TEST_DOMAIN}>")[0] == 530


def test_any_login_at_the_domain_works_and_a_key_opens_only_its_domain(live_server):
    gw = smtp_gateway(live_server, background=False,
                      settings={"domains": {"other.example.com": {"api_key": "key-other"}}})
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.ehlo("app.example")
        client.esmtp_features["auth"] = "LOGIN"  # drive AUTH LOGIN too
        client.login("ghost@other.example.com", "key-other")
        assert client.docmd("MAIL", f"FROM:<app@{TEST_DOMAIN}>")[0] == 550  # not the authenticated domain
        assert client.docmd("MAIL", "FROM:<app@OTHER.example.com>")[0] == 250


def test_too_many_failed_logins_close_the_connection(live_server):
    gw = smtp_gateway(live_server, background=False)
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.ehlo("guess.example")
        codes = [client.docmd("AUTH", "PLAIN AHBvc3RtYXN0ZXJAbWcuZXhhbXBsZS5jb20Ad3Jvbmc=")[0] for _ in range(6)]
    assert codes[:5] == [535] * 5 and codes[5] == 421


def test_size_limit(live_server):
    gw = smtp_gateway(live_server, listen_max_message_mb=0.01)  # 10 KiB
    big = ghost_like_message()
    big.add_attachment(b"y" * 20_000, maintype="application", subtype="octet-stream", filename="big.bin")
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.ehlo("app.example")
        assert client.does_esmtp and int(client.esmtp_features["size"]) == int(0.01 * 1024 * 1024)
        client.login(LOGIN, TEST_KEY)
        assert client.docmd("MAIL", f"FROM:<app@{TEST_DOMAIN}> SIZE=99999999")[0] == 552
        client.rset()
        client.mail(f"app@{TEST_DOMAIN}")  # no SIZE declared: the limit holds during DATA
        client.rcpt("reader@example.com")
        code, text = client.data(big.as_bytes(policy=email.policy.SMTP))
        assert code == 552, text
        assert client.noop()[0] == 250  # the session goes on
    assert gw.events() == []


@pytest.mark.parametrize("header, value, expected", [
    ("X-Mailgun-Deliver-By", "not a date", "is not an RFC-2822 compliant date"),
    ("X-Mailgun-Variables", "{not json", "'h:X-Mailgun-Variables' parameter is not a valid JSON"),
    ("X-Mailgun-Track-Clicks", "sometimes", "o:tracking-clicks"),
])
def test_bad_mailgun_options_are_refused_with_mailguns_text(live_server, header, value, expected):
    gw = smtp_gateway(live_server, background=False)
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.login(LOGIN, TEST_KEY)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.send_message(ghost_like_message(**{header.replace("-", "_"): value}))
    assert refused.value.smtp_code == 550
    assert expected in refused.value.smtp_error.decode()
    assert gw.events() == []


def test_drop_message_is_test_mode(live_server):
    gw = smtp_gateway(live_server)
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.login(LOGIN, TEST_KEY)
        client.send_message(ghost_like_message(X_Mailgun_Drop_Message="yes", X_Mailgun_Track="no"))
    [delivered] = gw.wait_for_event("delivered")
    assert delivered["delivery-status"]["code"] == 650
    assert gw.outbox() == []


class Refuses:
    """A validate_message plugin: says no to one subject, breaks on another."""

    @hookimpl
    def validate_message(self, gateway, message):
        if message.subject == "refused":
            return "this gateway does not send \"refused\"\r\n250 fake"
        if message.subject == "boom":
            raise RuntimeError("a secret detail of the failure")
        return None


def test_plugin_refusals_and_failures_are_replies_not_crashes(live_server, caplog):
    gw = smtp_gateway(live_server, background=False, plugins=(Refuses(),))
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20) as client:
        client.login(LOGIN, TEST_KEY)
        replies = {}
        for subject in ("refused", "boom", "fine"):
            message = ghost_like_message()
            message.replace_header("Subject", subject)
            try:
                client.send_message(message)
                replies[subject] = (250, b"")
            except smtplib.SMTPDataError as exc:
                replies[subject] = (exc.smtp_code, exc.smtp_error)
    assert replies["refused"] == (550, b'5.6.0 this gateway does not send "refused"??250 fake')
    assert replies["boom"][0] == 451 and b"secret" not in replies["boom"][1]
    assert replies["fine"][0] == 250
    assert "a secret detail of the failure" in caplog.text  # logged, with its traceback
