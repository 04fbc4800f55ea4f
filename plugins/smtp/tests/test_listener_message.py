"""An SMTP transaction as a core Message: Mailgun's X-Mailgun-* headers become the send call's
options and leave the message; Bcc leaves it; the rest is kept byte for byte."""

from __future__ import annotations

import time

import pytest

from postgate import BadRequest
from postgate_smtp.smtp_message import Envelope, smtp_message, split_headers

ENVELOPE = Envelope("mg.example.com", "app@mg.example.com", ["a@example.com", "b@example.com"])


def raw(*headers: str, body: str = "Hello.\r\n", eol: str = "\r\n") -> bytes:
    return (eol.join(headers) + eol + eol + body.replace("\r\n", eol)).encode()


def test_mailgun_headers_become_options_and_leave_the_message():
    when = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(time.time() + 3600))
    message = smtp_message(ENVELOPE, raw(
        "From: App <app@mg.example.com>",
        "To: a@example.com",
        "X-Mailgun-Tag: welcome",
        "x-mailgun-tag: onboarding",
        "X-Mailgun-Variables: {\"user\": 42,",
        " \"plan\": \"pro\"}",
        "X-Mailgun-Track-Opens: yes",
        "X-Mailgun-Track-Clicks: htmlonly",
        f"X-Mailgun-Deliver-By: {when}",
        "X-Mailgun-Drop-Message: yes",
        "X-Mailgun-Something-New: kept out",
        "Bcc: secret@example.com",
        "Subject: Hi",
    ))
    assert message.domain == "mg.example.com"
    assert message.sender == "App <app@mg.example.com>"
    assert message.to == ["a@example.com", "b@example.com"]
    assert message.subject == "Hi"
    assert message.tags == ["welcome", "onboarding"]
    assert message.variables == {"user": "42", "plan": "pro"}
    assert message.tracking_opens is True and message.tracking_clicks == "htmlonly"
    assert message.testmode is True
    assert message.deliver_at == pytest.approx(time.time() + 3600, abs=5)
    assert message.mime == raw("From: App <app@mg.example.com>", "To: a@example.com", "Subject: Hi")


def test_the_body_and_other_headers_are_kept_byte_for_byte():
    body = "--b\r\nContent-Type: text/plain\r\n\r\nX-Mailgun-Tag: in the body stays\r\n--b--\r\n"
    sent = raw("From: app@mg.example.com", "Content-Type: multipart/alternative;", ' boundary="b"',
               "X-Mailgun-Tag: t", body=body)
    message = smtp_message(ENVELOPE, sent)
    assert message.mime == raw("From: app@mg.example.com", "Content-Type: multipart/alternative;", ' boundary="b"',
                               body=body)


def test_lf_line_ends_are_kept():
    message = smtp_message(ENVELOPE, raw("From: app@mg.example.com", "X-Mailgun-Tag: t", "Subject: s", eol="\n"))
    assert message.mime == raw("From: app@mg.example.com", "Subject: s", eol="\n")
    assert message.tags == ["t"]


def test_a_valid_message_id_is_the_batch_id_and_a_bad_one_is_replaced():
    good = smtp_message(ENVELOPE, raw("From: app@mg.example.com", "Message-ID: <abc.1@app.example>"))
    assert good.header("Message-Id") == "<abc.1@app.example>"
    assert b"Message-ID" not in good.mime  # rendering writes it back, from the id the batch keeps
    for bad in ("Message-ID: not an id", "Message-ID: <%recipient.x%@app.example>"):
        message = smtp_message(ENVELOPE, raw("From: app@mg.example.com", bad))
        assert message.header("Message-Id") is None and b"Message-ID" not in message.mime
    twice = smtp_message(ENVELOPE, raw("From: app@mg.example.com", "Message-ID: <a@b>", "Message-ID: <c@d>"))
    assert twice.header("Message-Id") is None


def test_without_from_the_envelope_sender_stands_in():
    message = smtp_message(ENVELOPE, raw("Subject: no from"))
    assert message.sender == "app@mg.example.com"


def test_a_headers_only_message_keeps_its_last_line_end():
    assert split_headers(b"Subject: s\r\nX-Mailgun-Tag: t\r\n").raw == b"Subject: s\r\n"


@pytest.mark.parametrize("sent, text", [
    (b"Subject: a\x00b\r\n\r\nbody", "NUL"),
    (b"Subject: a\rb\r\n\r\nbody", "CR that is not followed by LF"),
    (b"Subject: \xff\xfe\r\n\r\nbody", "not UTF-8"),
    (b"Subject: a\x1bb\r\n\r\nbody", "control character"),
    (b"no colon here\r\n\r\nbody", "not 'name: value'"),
    (b"Subject: a\r\nX-Mailgun-Variables: [1]\r\n\r\nbody", "not a valid JSON"),
    (b"Subject: a\r\nX-Mailgun-Drop-Message: perhaps\r\n\r\nbody", "o:testmode"),
    (b"X-Mailgun-Tag: only options\r\n\r\nbody", "has no header"),
    (b"Subject: " + b"x" * 900 + b"\r\n" + b" y\r\n" * 400_000 + b"\r\nbody", "larger than"),
])
def test_bad_messages_are_refused(sent, text):
    with pytest.raises(BadRequest, match=text):
        smtp_message(ENVELOPE, sent)


def test_too_many_options_are_refused_as_over_http():
    with pytest.raises(BadRequest, match="limited to 16 kB"):
        smtp_message(ENVELOPE, raw("From: app@mg.example.com",
                                   *[f"X-Mailgun-Tag: {'t' * 90}{i}" for i in range(200)]))
