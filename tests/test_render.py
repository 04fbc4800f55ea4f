"""Per-recipient rendering: substitution, headers, MIME structure, ``messages.mime`` batches."""

from __future__ import annotations

import hashlib
import json
import re
import types
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest

import postgate.render as render_module
from postgate.domain import Attachment, Batch, Message, Recipient, RecipientStatus
from postgate.headers import UnsafeHeaderValue
from postgate.render import Renderer, render

DOMAIN = "mg.example.com"
TAGS = ["ghost-email", "bulk-email"]


def make_batch(message: Message, **kw) -> Batch:
    fields = dict(id=7, domain=DOMAIN, message_id="20251121050000.0123456789abcdef@mg.example.com",
                  response_id="<%recipient.message_id%>", email_id=message.email_id, tags=list(message.tags),
                  content=b"", testmode=False, deliver_at=None, created_at=0.0, enqueued=True,
                  accepted_logged=True, recipient_count=len(message.to))
    fields.update(kw)
    return Batch(**fields)


def row(rid: int, address: str, display: str | None = None, message_id: str | None = None,
        variables: dict | None = None) -> Recipient:
    return Recipient(id=rid, batch_id=7, domain=DOMAIN, address=address, name=display,
                     message_id=message_id or f"e1.{rid:032x}@{DOMAIN}", variables=variables or {},
                     status=RecipientStatus.SENDING)


def ghost_message(**kw) -> Message:
    fields = dict(
        domain=DOMAIN,
        sender="My Blog <noreply@mg.example.com>",
        to=["Alice A <alice+x@example.com>", "bob@example.com"],
        subject="Hello %recipient.name%",
        html='<p>Hi %recipient.name_html%</p><a href="%recipient.unsubscribe_url%">unsub</a>',
        text="Hi %recipient.name%, missing %recipient.nope%",
        recipient_variables={},
        headers=[
            ("Sender", "My Blog <noreply@mg.example.com>"),
            ("Auto-Submitted", "auto-generated"),
            ("List-Unsubscribe", "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Message-Id", "<%recipient.message_id%>"),
        ],
        variables={"email-id": "6740a1b2c3d4e5f6a7b8c9d0", "uid": "%recipient.v:uid%"},
        tags=list(TAGS),
    )
    fields.update(kw)
    return Message(**fields)


def parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=default)


def body(mail: EmailMessage, subtype: str) -> str:
    part = mail.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content()


def alice() -> Recipient:
    return row(1, "alice+x@example.com", "Alice A", message_id="6740.aaaa@mg.example.com",
               variables={"name": "Alice", "name_html": "Alice &amp; co", "unsubscribe_url": "https://blog/unsub?uuid=1",
                          "list_unsubscribe": "https://blog/unsub?uuid=1&key=k", "v:uid": 41})


def test_ghost_batch_recipient_gets_own_headers_and_bodies():
    message = ghost_message()
    rendered = render(make_batch(message), message, alice(), public_url="https://pg.example.com")
    mail = parse(rendered.raw)
    assert rendered.recipient == "alice+x@example.com"
    assert rendered.message_id == "6740.aaaa@mg.example.com"
    assert rendered.envelope_from == "noreply@mg.example.com"
    assert rendered.tags == TAGS
    assert mail["To"] == "Alice A <alice+x@example.com>"
    assert mail["From"] == "My Blog <noreply@mg.example.com>"
    assert mail["Subject"] == "Hello Alice"
    assert mail["Message-ID"] == "<6740.aaaa@mg.example.com>"
    assert mail["Date"]
    assert mail["Sender"] == "My Blog <noreply@mg.example.com>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["List-Unsubscribe"] == "<https://blog/unsub?uuid=1&key=k>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.get_all("Message-ID") == ["<6740.aaaa@mg.example.com>"]
    assert mail.get_all("X-Mailgun-Tag") == TAGS
    assert mail["X-Postgate-Id"] == "20251121050000.0123456789abcdef@mg.example.com"
    assert json.loads(mail["X-Mailgun-Variables"]) == {"email-id": "6740a1b2c3d4e5f6a7b8c9d0", "uid": "41"}
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert body(mail, "plain").strip() == "Hi Alice, missing %recipient.nope%"
    # Values are never HTML-escaped: Ghost provides *_html variants itself.
    assert body(mail, "html").strip() == '<p>Hi Alice &amp; co</p><a href="https://blog/unsub?uuid=1">unsub</a>'
    assert "Bcc" not in mail


def test_recipients_are_rendered_independently():
    message = ghost_message(bcc=["hidden@example.com"])
    renderer = Renderer(make_batch(message), message)
    bob = parse(renderer(row(2, "bob@example.com", variables={"name": "Bob", "list_unsubscribe": "https://blog/u2"})).raw)
    ally = parse(renderer(alice()).raw)
    assert bob["To"] == "bob@example.com"
    assert bob["Subject"] == "Hello Bob"
    assert bob["List-Unsubscribe"] == "<https://blog/u2>"
    assert ally["Subject"] == "Hello Alice"
    assert bob["Message-ID"] != ally["Message-ID"]
    assert "hidden@example.com" not in bob.as_string() + ally.as_string()


def test_non_batch_mode_shows_every_to_and_cc():
    message = ghost_message(recipient_variables=None, cc=["Carol <carol@example.com>"], headers=[])
    mail = parse(render(make_batch(message), message, row(2, "bob@example.com")).raw)
    assert mail["To"] == "Alice A <alice+x@example.com>, bob@example.com"
    assert mail["Cc"] == "Carol <carol@example.com>"
    assert mail["Message-ID"] == f"<e1.{2:032x}@{DOMAIN}>"


def test_non_ascii_round_trips_with_seven_bit_encodings():
    message = ghost_message(subject="Café ☕ %recipient.name%", text="Grüße %recipient.name%",
                            html="<p>Привет %recipient.name%</p>", sender="Blög <noreply@mg.example.com>")
    rendered = render(make_batch(message), message, row(3, "zoe@example.com", "Zoë Ä", variables={"name": "Zoë"}))
    assert rendered.raw.isascii()
    mail = parse(rendered.raw)
    assert mail["Subject"] == "Café ☕ Zoë"
    assert str(mail["From"]) == "Blög <noreply@mg.example.com>"
    assert mail["To"].addresses[0].display_name == "Zoë Ä"
    assert body(mail, "plain").strip() == "Grüße Zoë"
    assert body(mail, "html").strip() == "<p>Привет Zoë</p>"


def test_attachments_inline_images_and_amp():
    message = ghost_message(
        html='<img src="cid:logo.png">', amp_html="<html amp4email>%recipient.name%</html>",
        attachments=[Attachment("a.txt", "text/plain", b"plain file"),
                     Attachment("logo.png", "image/png", b"\x89PNG....", inline=True)],
    )
    mail = parse(render(make_batch(message), message, alice()).raw)
    assert mail.get_content_type() == "multipart/mixed"
    alternative, attachment = list(mail.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in alternative.iter_parts()]
    assert kinds == ["text/plain", "text/x-amp-html", "multipart/related"]
    amp = list(alternative.iter_parts())[1]
    assert "Alice" in amp.get_content()
    related = list(alternative.iter_parts())[2]
    html, image = list(related.iter_parts())
    assert html.get_content_type() == "text/html"
    assert image["Content-ID"] == "<logo.png>"
    assert image.get_content() == b"\x89PNG...."
    assert attachment.get_filename() == "a.txt"
    assert attachment.get_content() == "plain file"


def test_html_only_and_text_only():
    html_only = ghost_message(text=None)
    mail = parse(render(make_batch(html_only), html_only, alice()).raw)
    assert mail.get_content_type() == "text/html"
    text_only = ghost_message(html=None)
    mail = parse(render(make_batch(text_only), text_only, alice()).raw)
    assert mail.get_content_type() == "text/plain"


def test_header_values_cannot_inject_lines():
    message = ghost_message(headers=[("X-Note", "%recipient.note%")])
    evil = row(4, "eve@example.com", variables={"name": "Eve\r\nBcc: victim@example.com",
                                               "note": "a\r\nBcc: victim@example.com"})
    with pytest.raises(UnsafeHeaderValue, match="Subject header .* after substitution"):
        render(make_batch(message), message, evil)
    evil.variables["name"] = "Eve"
    with pytest.raises(UnsafeHeaderValue, match="X-Note header .* after substitution"):
        render(make_batch(message), message, evil)
    evil.variables["note"] = "a\r\n b"  # RFC 5322 folding unfolds
    mail = parse(render(make_batch(message), message, evil).raw)
    assert "Bcc" not in mail and mail["X-Note"] == "a b"


def test_x_mailgun_variables_header_merges_into_user_variables():
    message = ghost_message(headers=[("X-Mailgun-Variables", '{"campaign": "c1", "who": "%recipient.name%"}')],
                            variables={"email-id": "e1"})
    mail = parse(render(make_batch(message), message, alice()).raw)
    assert mail.get_all("X-Mailgun-Variables") == [mail["X-Mailgun-Variables"]]
    assert json.loads(mail["X-Mailgun-Variables"]) == {"campaign": "c1", "who": "Alice", "email-id": "e1"}


def test_mime_batch_is_sent_as_stored_with_a_message_id_added_only_when_missing():
    stored = b"From: a@mg.example.com\r\nTo: b@example.com\r\nSubject: raw\r\n\r\nbody %recipient.name%\r\n"
    message = Message(domain=DOMAIN, sender="a@mg.example.com", to=["b@example.com"], mime=stored)
    rendered = render(make_batch(message), message, row(5, "b@example.com", variables={"name": "B"}))
    assert rendered.raw == f"Message-ID: <e1.{5:032x}@{DOMAIN}>\r\n".encode() + stored
    with_id = b"Message-ID: <own@x>\r\n" + stored
    message = Message(domain=DOMAIN, sender="", to=["b@example.com"], mime=with_id)
    rendered = render(make_batch(message), message, row(5, "b@example.com"))
    assert rendered.raw == with_id
    assert rendered.envelope_from == "a@mg.example.com"


# -- the byte-level fast path against the stdlib reference ------------------------------------

ADDRESS_HEADERS = {"from", "to", "cc", "sender", "reply-to"}


@pytest.fixture()
def frozen_clock(monkeypatch):
    monkeypatch.setattr(render_module, "time", types.SimpleNamespace(time=lambda: 1763700000.25))


def _shape(raw: bytes) -> list:
    """What a reader sees: every header (name, decoded value, order) and every MIME part."""
    mail = parse(raw)
    shape = []
    for part in mail.walk():
        headers = [(name, str(value)) for name, value in part.items()]
        for name, value in part.items():
            if name.lower() in ADDRESS_HEADERS:
                headers.append((name, [(a.display_name, a.addr_spec) for a in value.addresses]))
        payload = None if part.is_multipart() else part.get_payload(decode=True)
        content = part.get_content() if part.get_content_maintype() == "text" else None
        shape.append((part.get_content_type(), headers, payload, content, [d.__class__ for d in part.defects]))
    return shape


def _check_well_formed(raw: bytes) -> None:
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def assert_same_as_reference(message: Message, recipients: list[Recipient], *, fast: bool = True) -> None:
    renderer = Renderer(make_batch(message), message)
    assert renderer.fast is fast
    for recipient in recipients:
        try:
            expected = renderer._build_reference(recipient)
        except Exception as exc:  # the fast path must fail the same way
            with pytest.raises(type(exc)) as raised:
                renderer._build(recipient)
            assert str(raised.value) == str(exc)
            continue
        headers, raw = renderer._build(recipient)
        assert headers == expected[0]
        _check_well_formed(raw)
        assert _shape(raw) == _shape(expected[1])
        # Only header folding, and where base64 lines end (the fast path may end one early rather
        # than cut a value that keeps its length), may differ: the body (MIME headers included)
        # is otherwise byte-identical.
        assert _unwrapped(raw.split(b"\r\n\r\n", 1)[1]) == _unwrapped(expected[1].split(b"\r\n\r\n", 1)[1])
        assert _unwrapped(raw.split(b"\r\nMIME-Version: ", 1)[1]) == _unwrapped(
            expected[1].split(b"\r\nMIME-Version: ", 1)[1])
        assert renderer(recipient).raw.split(b"\r\nMIME-Version: ", 1)[1] == raw.split(b"\r\nMIME-Version: ", 1)[1]


def people() -> list[Recipient]:
    return [
        alice(),
        row(2, "bob@example.com", variables={"name": "Bob", "list_unsubscribe": "https://blog/u2"}),
        row(3, "zoe@example.com", "Zoë Ä", variables={"name": "Zoë", "name_html": "Zo&euml;", "v:uid": None}),
        row(4, "smith@example.com", "Smith, J.", variables={"name": 'J "Jo" {0} {}', "name_html": 17.5,
                                                           "unsubscribe_url": ["a", 1], "v:uid": {"k": "v"}}),
        row(5, "long.name@example.com", "A Very Long Display Name That Goes On And On For Quite A While Indeed",
            variables={"name": "x " * 60, "list_unsubscribe": "https://blog.example.com/" + "u" * 1200}),
        row(6, "pct@example.com", "Pat", variables={"name": "%recipient_email% and %recipient.name_html%",
                                                   "name_html": "%recipient_fname%", "v:uid": "%recipient%"}),
        row(7, "odd@example.com", "=?utf-8?q?Enc?=", message_id="odd id@[1.2.3.4]",
            variables={"name": "=?utf-8?q?caf=C3=A9?=", "list_unsubscribe": "mailto:u@x?subject=a  b"}),
        row(8, "ws@example.com", variables={"name": "  padded\tname  ", "name_html": "a\r\nb\rc\nd",
                                            "list_unsubscribe": " "}),
        row(9, "d.o.t@sub.example.com", "Dot.Name", message_id="Ünï@example.com", variables={"name": "é" * 300}),
        row(10, "vt@example.com", variables={"name": "a\x0bb", "name_html": "\x00\x1f"}),
    ]


LONG_HTML = "<html><body>" + "<p>Hi %recipient.name_html%, here is {this} week's issue.</p>" * 300 + "</body></html>"

VARIANTS = {
    "ghost": {},
    "non_ascii": dict(subject="Café ☕ %recipient.name% — a subject long enough that it has to be folded somewhere",
                      text="Grüße %recipient.name%", html="<p>Привет %recipient.name%</p>",
                      sender="Blög <noreply@mg.example.com>"),
    "long_headers": dict(
        subject="An unusually long subject line for %recipient.name% that keeps going well past seventy-eight columns",
        headers=[("X-Long", "word " * 100 + "%recipient.name%"), ("X-Token", "t" * 2000),
                 ("X-Spaces", "a  b   c "), ("X-Tab", "a\tb"), ("X-Empty", ""), ("X-Enc", "=?utf-8?q?x?= y"),
                 ("Reply-To", "%recipient.name% <reply@example.com>"), ("Keywords", "%recipient.name%"),
                 ("List-Unsubscribe", "<%recipient.list_unsubscribe%>, <mailto:%recipient_email%>, "
                                      "<%unsubscribe_email%>, <%mailing_list_unsubscribe_url%>"),
                 ("X-Mailgun-Variables", '{"campaign": "c1", "who": "%recipient.name%", "n": 1}')]),
    "html_only": dict(text=None),
    "text_only": dict(html=None),
    "empty_bodies": dict(text="", html=None),
    "nothing": dict(text=None, html=None),
    "big_html": dict(html=LONG_HTML, text="line\r\nother\rthird\n" + "x" * 990 + "\n"),
    "long_text_line": dict(text="y" * 991 + " %recipient.name%"),
    "amp": dict(amp_html="<html amp4email>%recipient.name% {{x}}</html>"),
    "amp_without_html": dict(amp_html="<html amp4email>%recipient.name%</html>", html=None),
    "attachments": dict(
        html='<img src="cid:logo.png">%recipient.name%', amp_html="<html amp4email>%recipient.name%</html>",
        attachments=[Attachment("a.txt", "text/plain", b"plain file"),
                     Attachment("r\u00e9sum\u00e9 with a long name for folding purposes.pdf", "application/pdf",
                                bytes(range(256)) * 40),
                     Attachment("noslash", "weird", b"\x00\x01"),
                     Attachment("logo.png", "image/png", b"\x89PNG....", inline=True),
                     Attachment("two.gif", "image/gif", b"GIF89a", inline=True)]),
    "inline_only": dict(text=None, attachments=[Attachment("logo.png", "image/png", b"\x89PNG", inline=True)]),
    "non_batch": dict(recipient_variables=None, cc=["Carol <carol@example.com>", "Dä <d@example.com>"]),
    "no_subject_no_variables": dict(subject=None, variables={}, headers=[]),
    "empty_subject": dict(subject="%recipient.empty%", headers=[("X-Blank", "%recipient.empty%")]),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_fast_path_matches_the_stdlib_reference(variant, frozen_clock):
    message = ghost_message(**VARIANTS[variant])
    recipients = people()
    for recipient in recipients:
        recipient.variables.setdefault("empty", "")
    assert_same_as_reference(message, recipients)


def test_headers_the_stdlib_refuses_use_the_reference_path(frozen_clock):
    message = ghost_message(headers=[("Sender", "a@example.com"), ("Sender", "b@example.com")])
    renderer = Renderer(make_batch(message), message)
    assert not renderer.fast
    with pytest.raises(ValueError):
        renderer(alice())
    assert_same_as_reference(ghost_message(headers=[("Reply-To", "a@x.com"), ("X-Dup", "1"), ("X-Dup", "2")]),
                             people())


def test_a_long_list_unsubscribe_url_stays_one_plain_line(frozen_clock):
    long_url = "https://blog.example.com/unsubscribe/?uuid=" + "0123456789abcdef" * 4 + "&key=k"
    message = ghost_message()
    recipient = row(2, "bob@example.com", variables={"list_unsubscribe": long_url})
    renderer = Renderer(make_batch(message), message)
    raw = renderer(recipient).raw
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert f"\r\nList-Unsubscribe: <{long_url}>\r\n".encode() in head
    assert b"=?" not in head
    assert parse(raw)["List-Unsubscribe"] == parse(renderer._build_reference(recipient)[1])["List-Unsubscribe"]


def test_a_list_unsubscribe_of_several_elements_is_folded_between_them(frozen_clock):
    long_url = "https://blog.example.com/unsubscribe/?uuid=" + "0123456789abcdef" * 4 + "&key=k"
    mailto = "mailto:u-" + "a" * 53 + "@unsubscribe.news.example.com"
    message = ghost_message(headers=[("List-Unsubscribe", f"<%recipient.list_unsubscribe%>, <{mailto}>")])
    recipient = row(2, "bob@example.com", variables={"list_unsubscribe": long_url})
    renderer = Renderer(make_batch(message), message)
    raw = renderer(recipient).raw
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert f"\r\nList-Unsubscribe: <{long_url}>,\r\n <{mailto}>\r\n".encode() in head
    assert b"=?" not in head
    assert parse(raw)["List-Unsubscribe"] == parse(renderer._build_reference(recipient)[1])["List-Unsubscribe"]


def test_body_templates_are_shared_per_transfer_encoding(frozen_clock):
    message = ghost_message()
    renderer = Renderer(make_batch(message), message)
    for recipient in people():
        try:
            renderer(recipient)
        except ValueError:
            pass
    assert set(renderer.templates) <= {("7bit", "7bit"), ("7bit", "base64"), ("base64", "7bit"), ("base64", "base64")}
    assert ("base64", "7bit") in renderer.templates and ("7bit", "7bit") in renderer.templates


#: sha256 of every variant's renders (below): rendering must stay byte-identical, not only
#: equivalent. The header values and everything after the header block count (the stdlib's
#: folding of the header lines themselves may change between Python versions). The first is of
#: the bytes as written; the second of the same with base64 lines joined (``_unwrapped``), which
#: has not changed since the renderer wrote these before the per-recipient CPU work of issue 12
#: §3: the fast path later learned to end a base64 line early rather than cut a value that keeps
#: its length (issue 10), which changes where lines end and nothing else.
GOLDEN_RENDERS = "34b3c34efe8c9dc79a1b7cae6ccf6b420ea61120ab5d7b5a3b459de3176db743"
GOLDEN_UNWRAPPED = "6f009c52a9c3d23f5d6afdbb95744f6a1ac56804f4e61117625ab687dc2de39e"
_BASE64_LINE = re.compile(rb"(?:[A-Za-z0-9+/]{4})+|(?:[A-Za-z0-9+/]{4})*[A-Za-z0-9+/]{2,3}={1,2}")


def _unwrapped(body: bytes) -> bytes:
    """``body`` with each stretch of base64 lines (whole 4-character groups, at most 76) joined."""
    out: list[bytes] = []
    for line in body.split(b"\r\n"):
        is_base64 = len(line) <= 76 and _BASE64_LINE.fullmatch(line) is not None
        if is_base64 and out and out[-1][:1] == b"\0":
            out[-1] += line
        else:
            out.append(b"\0" + line if is_base64 else line)
    return b"\r\n".join(line.lstrip(b"\0") if line[:1] == b"\0" else line for line in out)
GOLDEN_VARIANTS = {**VARIANTS, "big_non_ascii": dict(html="<p>Grüße ☕ %recipient.name_html%</p>\n" * 2000,
                                                     text="Caf\u00e9 %recipient.name%\r\n" * 500),
                   "long_non_ascii_literal": dict(html="<p>Hi %recipient.name_html%</p>\n" + "<p>This week’s issue "
                                                  "☕</p>\n" * 400 + "<a href='%recipient.unsubscribe_url%'>x</a>")}


def test_renders_stay_byte_identical(frozen_clock, monkeypatch):
    monkeypatch.setattr(render_module, "secrets", types.SimpleNamespace(token_hex=lambda n: "ab" * n))
    digest, unwrapped = hashlib.sha256(), hashlib.sha256()
    for variant in sorted(GOLDEN_VARIANTS):
        message = ghost_message(**GOLDEN_VARIANTS[variant])
        renderer = Renderer(make_batch(message), message)
        for recipient in people():
            recipient.variables.setdefault("empty", "")
            try:
                rendered = renderer(recipient)
            except ValueError as exc:
                for each in (digest, unwrapped):
                    each.update(f"{variant} {recipient.id} {type(exc).__name__}: {exc}\n".encode())
                continue
            assert b"".join(rendered.parts) == rendered.raw or (not rendered.parts and not renderer.fast)
            for each in (digest, unwrapped):
                each.update(f"{variant} {recipient.id} {rendered.headers!r}\n".encode())
            body = rendered.raw.split(b"\r\n\r\n", 1)[1]
            digest.update(body)
            unwrapped.update(_unwrapped(body))
    assert (digest.hexdigest(), unwrapped.hexdigest()) == (GOLDEN_RENDERS, GOLDEN_UNWRAPPED)


class Footer:
    """A ``prepare_template`` values function that records the rows it is asked for."""

    def __init__(self, fail: Exception | None = None, short: bool = False) -> None:
        self.calls: list[list[int]] = []
        self.fail, self.short = fail, short

    def __call__(self, rows):
        self.calls.append([r.id for r in rows])
        if self.fail is not None:
            raise self.fail
        values = [{"footer": f"row-{r.id}"} for r in rows]
        return values[:-1] if self.short else values


def footer_renderer(values: Footer) -> Renderer:
    message = ghost_message(html="<p>Hi %recipient.name%</p><p>%recipient.footer%</p>", text=None)
    return Renderer(make_batch(message), message, values=values)


def test_render_all_asks_values_once_for_the_chunk_and_fills_each_row_its_own() -> None:
    values = Footer()
    rows = [row(rid, f"m{rid}@example.com", variables={"name": f"M{rid}"}) for rid in (3, 1, 2)]
    rendered = footer_renderer(values).render_all(rows)
    assert values.calls == [[3, 1, 2]]
    bodies = [message_from_bytes(r.raw, policy=default).get_body(("html",)).get_content() for r in rendered]
    assert bodies == [f"<p>Hi M{rid}</p><p>row-{rid}</p>\r\n" for rid in (3, 1, 2)]
    alone = Footer()
    single = message_from_bytes(footer_renderer(alone)(rows[1]).raw, policy=default)
    assert alone.calls == [[1]] and single.get_body(("html",)).get_content() == bodies[1]


def test_a_failing_or_miscounting_values_function_fails_the_rows_it_was_asked_for() -> None:
    rows = [row(rid, f"m{rid}@example.com") for rid in (1, 2)]
    boom = RuntimeError("plugin down")
    assert footer_renderer(Footer(fail=boom)).render_all(rows) == [boom, boom]
    results = footer_renderer(Footer(short=True)).render_all(rows)
    assert [type(r) for r in results] == [ValueError, ValueError] and "1 mappings for 2 rows" in str(results[0])
    with pytest.raises(RuntimeError):
        footer_renderer(Footer(fail=boom))(rows[0])


def test_one_bad_row_fails_alone_in_a_chunk() -> None:
    rows = [row(1, "a@example.com"), row(2, "b@example.com", message_id="bad id\r\nX: y"), row(3, "c@example.com")]
    results = footer_renderer(Footer()).render_all(rows)
    assert isinstance(results[1], Exception)
    assert [r.recipient for r in (results[0], results[2])] == ["a@example.com", "c@example.com"]
