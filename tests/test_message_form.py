"""Unit tests of the Mailgun send-form parser (no app, no storage)."""

from __future__ import annotations

import io
import json

import pytest
from werkzeug.datastructures import FileStorage, Headers, MultiDict

from postgate.errors import BadRequest
from postgate.mailgun.message_form import (
    check_content_type,
    is_valid_address,
    parse_message,
    parse_mime_message,
    parse_tags,
    split_entries,
)

DOMAIN = "mg.example.com"
BASE = [("from", "Blog <noreply@mg.example.com>"), ("to", "alice@example.com"), ("text", "hi")]


def parse(*pairs, files=(), base=True):
    fields = MultiDict([*(BASE if base else []), *pairs])
    return parse_message(fields, MultiDict(list(files)), DOMAIN)


def without(*names):
    return [(k, v) for k, v in BASE if k not in names]


def rejects(text, *pairs, files=(), base=True):
    with pytest.raises(BadRequest) as info:
        parse(*pairs, files=files, base=base)
    assert info.value.message == text
    assert info.value.status == 400


def upload(data: bytes, filename: str | None, content_type: str | None = None) -> FileStorage:
    headers = Headers([("Content-Type", content_type)]) if content_type else Headers()
    return FileStorage(io.BytesIO(data), filename=filename, headers=headers)


# -- required fields ----------------------------------------------------------------------------


def test_minimal_message():
    message = parse()
    assert message.domain == DOMAIN
    assert message.sender == "Blog <noreply@mg.example.com>"
    assert message.to == ["alice@example.com"]
    assert message.text == "hi" and message.html is None
    assert message.recipient_variables is None and not message.batch_mode
    assert message.tracking_opens is False and message.tracking_clicks is False
    assert message.testmode is False and message.deliver_at is None


def test_from_missing():
    rejects("from parameter is missing", *without("from"), base=False)
    rejects("from parameter is missing", *without("from"), ("from", ""), base=False)


def test_to_missing():
    rejects("to parameter is missing", *without("to"), base=False)
    rejects("to parameter is missing", *without("to"), ("to", " "), base=False)
    rejects("to parameter is missing", *without("to"), ("cc", "c@example.com"), base=False)


def test_text_or_html_needed():
    rejects("Need at least one of 'text' or 'html' parameters specified", *without("text"), base=False)
    rejects("Need at least one of 'text' or 'html' parameters specified",
            *without("text"), ("amp-html", "<p>amp</p>"), base=False)
    assert parse(*without("text"), ("html", "<p>x</p>"), base=False).html == "<p>x</p>"


def test_template_is_refused():
    with pytest.raises(BadRequest) as info:
        parse(("template", "welcome"))
    assert "'template' parameter is not supported" in info.value.message
    with pytest.raises(BadRequest):
        parse(*without("text"), ("template", "welcome"), base=False)


def test_bodies_and_subject():
    message = parse(("subject", "Hello %recipient.name%"), ("html", "<p>h</p>"), ("amp-html", "<p>a</p>"))
    assert message.subject == "Hello %recipient.name%"
    assert (message.text, message.html, message.amp_html) == ("hi", "<p>h</p>", "<p>a</p>")


# -- addresses ----------------------------------------------------------------------------------


def test_repeated_to_fields():
    message = parse(("to", "bob@example.com"), ("cc", "c@example.com"), ("bcc", "d@example.com"),
                    ("bcc", "e@example.com"))
    assert message.to == ["alice@example.com", "bob@example.com"]
    assert message.cc == ["c@example.com"]
    assert message.bcc == ["d@example.com", "e@example.com"]


def test_nodemailer_comma_joined_to():
    message = parse(*without("to"), ("to", "a@x.com,b@y.com"), base=False)
    assert message.to == ["a@x.com", "b@y.com"]


def test_display_names_with_quoted_commas():
    value = '"Doe, John" <john@example.com>, Alice <alice@example.com>,"Smith, \\"Bo\\"" <bo@example.com>'
    message = parse(*without("to"), ("to", value), base=False)
    assert message.to == ['"Doe, John" <john@example.com>', "Alice <alice@example.com>",
                          '"Smith, \\"Bo\\"" <bo@example.com>']


def test_plus_and_unicode_addresses():
    message = parse(*without("to"), ("to", "alice+x@example.com"), ("to", "Jörg <jörg@exämple.de>"),
                    base=False)
    assert message.to == ["alice+x@example.com", "Jörg <jörg@exämple.de>"]


def test_blank_entries_are_skipped():
    assert parse(*without("to"), ("to", "a@x.com, ,b@y.com,"), base=False).to == ["a@x.com", "b@y.com"]


@pytest.mark.parametrize("bad", ["not an address", "a@", "@b.com", "a b@c.com", "a@@b.com",
                                 "Alice <alice@example.com> extra", "a@b.com c@d.com", "x@y.com;z@w.com",
                                 "<>", "a@-x.com", "a@x..com"])
def test_invalid_to(bad):
    rejects("to parameter is not a valid address. please check documentation",
            *without("to"), ("to", bad), base=False)


@pytest.mark.parametrize("field", ["from", "cc", "bcc"])
def test_invalid_other_addresses(field):
    rejects(f"{field} parameter is not a valid address. please check documentation", (field, "nope"))


def test_several_from_addresses_are_kept():
    message = parse(*without("from"), ("from", "a@mg.example.com"), ("from", "B <b@mg.example.com>"),
                    base=False)
    assert message.sender == "a@mg.example.com, B <b@mg.example.com>"


def test_recipient_limit():
    to = ",".join(f"u{i}@example.com" for i in range(1000))
    assert len(parse(*without("to"), ("to", to), base=False).to) == 1000
    rejects("Too many recipients, max is 1000", ("cc", to))
    many = [("to", f"u{i}@example.com") for i in range(1001)]
    rejects("Too many recipients, max is 1000", *without("to"), *many, base=False)


def test_split_entries_and_validation_helpers():
    assert split_entries('a@x.com,"B, C" <b@y.com> , (c, d) e@z.com') == [
        "a@x.com", '"B, C" <b@y.com>', "(c, d) e@z.com"]
    assert is_valid_address('"john doe"@example.com')
    assert is_valid_address("user@[192.0.2.1]")
    assert not is_valid_address("user@")


# -- booleans and tracking ------------------------------------------------------------------------


@pytest.mark.parametrize("value,expected", [("yes", True), ("True", True), ("TRUE", True), ("true", True),
                                            ("no", False), ("False", False), ("NO", False)])
def test_yes_no_values(value, expected):
    message = parse(("o:testmode", value), ("o:tracking-opens", value))
    assert message.testmode is expected
    assert message.tracking_opens is expected
    assert message.options["o:testmode"] == value


def test_htmlonly_for_clicks_only():
    assert parse(("o:tracking-clicks", "htmlonly")).tracking_clicks == "htmlonly"
    assert parse(("o:tracking-clicks", "HTMLOnly")).tracking_clicks == "htmlonly"
    with pytest.raises(BadRequest):
        parse(("o:tracking-opens", "htmlonly"))


@pytest.mark.parametrize("name", ["o:testmode", "o:tracking", "o:tracking-clicks", "o:tracking-opens", "o:dkim",
                                  "o:require-tls", "o:skip-verification", "o:tracking-pixel-location-top"])
def test_invalid_yes_no_is_rejected(name):
    with pytest.raises(BadRequest) as info:
        parse((name, "maybe"))
    assert name in info.value.message


def test_tracking_defaults_off():
    message = parse()
    assert (message.tracking_opens, message.tracking_clicks) == (False, False)


def test_tracking_no_turns_everything_off():
    message = parse(("o:tracking", "no"), ("o:tracking-opens", "yes"), ("o:tracking-clicks", "yes"))
    assert (message.tracking_opens, message.tracking_clicks) == (False, False)


def test_tracking_yes_turns_both_on_unless_overridden():
    assert (parse(("o:tracking", "yes")).tracking_opens, parse(("o:tracking", "yes")).tracking_clicks) == (True, True)
    message = parse(("o:tracking", "yes"), ("o:tracking-clicks", "no"))
    assert (message.tracking_opens, message.tracking_clicks) == (True, False)


def test_ghost_gift_tracking_off():
    message = parse(("o:tracking", "no"), ("o:tracking-clicks", "no"), ("o:tracking-opens", "no"))
    assert (message.tracking_opens, message.tracking_clicks) == (False, False)


def test_plan_options_are_accepted_and_kept():
    message = parse(("o:deliverytime-optimize-period", "24h"), ("o:time-zone-localize", "09:00AM"),
                    ("o:sending-ip", "192.0.2.1"), ("o:sending-ip-pool", "pool"), ("o:dkim", "no"),
                    ("o:tracking-pixel-location-top", "yes"), ("o:something-new", "x"))
    assert message.options == {
        "o:deliverytime-optimize-period": "24h", "o:time-zone-localize": "09:00AM", "o:sending-ip": "192.0.2.1",
        "o:sending-ip-pool": "pool", "o:dkim": "no", "o:tracking-pixel-location-top": "yes",
        "o:something-new": "x",
    }


# -- delivery time ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["Fri, 21 Nov 2025 05:00:00 GMT", "Fri, 21 Nov 2025 05:00:00 UTC",
                                   "Fri, 21 Nov 2025 05:00:00 +0000", "Fri, 21 Nov 2025 05:00:00 -0000",
                                   "Fri, 21 Nov 2025 06:00:00 +0100", "1763701200", "1763701200.0"])
def test_delivery_time(value):
    message = parse(("o:deliverytime", value))
    assert message.deliver_at == 1763701200.0
    assert message.options["o:deliverytime"] == value


@pytest.mark.parametrize("value", ["tomorrow", "2025-11-21T05:00:00Z", "Fri, 21 Nov"])
def test_delivery_time_invalid(value):
    rejects(f"{value} is not an RFC-2822 compliant date", ("o:deliverytime", value))


# -- tags -------------------------------------------------------------------------------------


def test_tags_are_kept_whole_and_in_order():
    message = parse(("o:tag", "ghost-email"), ("o:tag", "bulk-email"), ("o:tag", "September newsletter"),
                    ("o:tag", "a,b"))
    assert message.tags == ["ghost-email", "bulk-email", "September newsletter", "a,b"]
    assert "o:tag" not in message.options


def test_tags_non_ascii_length_duplicates_and_count():
    assert parse_tags(["café", "日本語", "x" * 200, "News", "news", "", "  "]) == ["caf", "x" * 128, "News"]
    many = [("o:tag", f"t{i}") for i in range(50)]
    assert len(parse(*many).tags) == 50


# -- headers and variables ----------------------------------------------------------------------


def test_headers_in_order():
    message = parse(("h:Sender", "Blog <noreply@mg.example.com>"), ("h:List-Unsubscribe",
                    "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>"), ("h:Reply-To", "r@example.com"),
                    ("h:X-Custom", "1"), ("h:X-Custom", "2"))
    assert message.headers == [
        ("Sender", "Blog <noreply@mg.example.com>"),
        ("List-Unsubscribe", "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>"),
        ("Reply-To", "r@example.com"), ("X-Custom", "1"), ("X-Custom", "2"),
    ]
    assert message.header("reply-to") == "r@example.com"


def test_header_name_must_be_ascii():
    rejects("Header name must be pure ASCII: X-Grüße", ("h:X-Grüße", "1"))


def test_header_name_and_value_cannot_inject():
    with pytest.raises(BadRequest):
        parse(("h:X-A: b", "1"))
    rejects("'h:X-Note' parameter must not contain line breaks or control characters",
            ("h:X-Note", "one\r\nBcc: evil@example.com\n two"))
    # RFC 5322 folding (a line break before white space) unfolds; end line breaks are dropped
    message = parse(("h:X-Note", "one\r\n two\n\tthree\r\n"))
    assert message.headers == [("X-Note", "one two\tthree")]


def test_empty_header_values_are_left_out():
    assert parse(("h:Reply-To", ""), ("h:X-A", "  ")).headers == []


def test_variables():
    message = parse(("v:email-id", "6740a1b2"), ("v:uid", "%recipient.v:uid%"), ("v:n", "0"), ("v:n", "1"))
    assert message.variables == {"email-id": "6740a1b2", "uid": "%recipient.v:uid%", "n": "0"}
    assert message.email_id == "6740a1b2"


def test_x_mailgun_variables_merged():
    message = parse(("h:X-Mailgun-Variables", json.dumps({"a": "1", "b": 2, "c": {"d": 1}})), ("v:a", "override"))
    assert message.variables == {"a": "override", "b": "2", "c": '{"d": 1}'}
    assert message.header("X-Mailgun-Variables") is None
    rejects("'h:X-Mailgun-Variables' parameter is not a valid JSON", ("h:X-Mailgun-Variables", "{nope"))


def test_recipient_variables():
    data = {"alice@example.com": {"name": "Alice", "id": 1}}
    message = parse(("recipient-variables", json.dumps(data)))
    assert message.recipient_variables == data and message.batch_mode
    assert parse(("recipient-variables", "{}")).batch_mode


@pytest.mark.parametrize("bad", ["{nope", "[1, 2]", '"text"', "null", ""])
def test_recipient_variables_invalid(bad):
    rejects("'recipient-variables' parameter is not a valid JSON", ("recipient-variables", bad))


def test_send_options_limit():
    parse(("v:big", "x" * 16000))
    rejects("Send options (parameters starting with o:, h:, or v:) are limited to 16 kB total",
            ("v:big", "x" * 10000), ("h:X-Big", "y" * 7000))
    # recipient-variables, html and text do not count
    parse(("recipient-variables", json.dumps({"a@example.com": {"k": "x" * 20000}})), ("html", "y" * 20000))


# -- files ------------------------------------------------------------------------------------


def test_attachments_and_inline():
    files = [("attachment", upload(b"hello", "a.txt", 'text/plain; charset="utf-8"')),
             ("attachment", upload(b"%PDF", "b.pdf")),
             ("inline", upload(b"\x89PNG", "logo.png")),
             ("attachment", upload(b"raw", None))]
    message = parse(files=files)
    assert [(a.filename, a.content_type, a.data, a.inline) for a in message.attachments] == [
        ("a.txt", 'text/plain; charset="utf-8"', b"hello", False),
        ("b.pdf", "application/pdf", b"%PDF", False),
        ("attachment", "application/octet-stream", b"raw", False),
        ("logo.png", "image/png", b"\x89PNG", True),
    ]


def test_attachment_as_plain_field_is_refused():
    rejects("'attachment' parameter is not a file", ("attachment", "hello"))


def test_content_type_check():
    fields = MultiDict([("from", "a@b.com"), ("attachment", "data")])
    with pytest.raises(BadRequest) as info:
        check_content_type("application/x-www-form-urlencoded", fields)
    assert info.value.message == ("Invalid request content type. Expecting 'multipart/form-data' but got "
                                  "'application/x-www-form-urlencoded'")
    check_content_type("multipart/form-data", fields)
    check_content_type("application/x-www-form-urlencoded", MultiDict([("from", "a@b.com")]))


# -- messages.mime --------------------------------------------------------------------------------

MIME = (b"From: =?utf-8?q?J=C3=B6rg?= <j@mg.example.com>\r\nTo: a@example.com\r\nSubject: Hi there\r\n"
        b"Content-Type: text/plain\r\n\r\nbody\r\n")


def test_mime_message():
    fields = MultiDict([("to", "a@example.com,b@example.com"), ("o:tag", "t1"), ("v:k", "v"),
                        ("h:X-Extra", "1"), ("o:testmode", "yes")])
    message = parse_mime_message(fields, MultiDict([("message", upload(MIME, "MimeMessage"))]), DOMAIN)
    assert message.mime == MIME
    assert message.to == ["a@example.com", "b@example.com"]
    assert message.sender == "Jörg <j@mg.example.com>"
    assert message.subject == "Hi there"
    assert message.tags == ["t1"] and message.variables == {"k": "v"} and message.testmode
    assert message.headers == [("X-Extra", "1")]


def test_mime_errors():
    def mime_rejects(text, fields, files=()):
        with pytest.raises(BadRequest) as info:
            parse_mime_message(MultiDict(fields), MultiDict(list(files)), DOMAIN)
        assert info.value.message == text

    mime_rejects("to parameter is missing", [], [("message", upload(MIME, "m"))])
    mime_rejects("message parameter is missing", [("to", "a@example.com")])
    mime_rejects("'message' parameter is not a file", [("to", "a@example.com"), ("message", MIME.decode())])
    mime_rejects("to parameter is not a valid address. please check documentation",
                 [("to", "bad")], [("message", upload(MIME, "m"))])
