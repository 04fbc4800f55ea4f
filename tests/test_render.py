"""Per-recipient rendering: substitution, headers, MIME structure, ``messages.mime`` batches."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from postgate.domain import Attachment, Batch, Message, Recipient, RecipientStatus
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
    mail = parse(render(make_batch(message), message, evil).raw)
    assert "Bcc" not in mail
    assert mail["X-Note"] == "a Bcc: victim@example.com"
    assert mail["Subject"] == "Hello Eve Bcc: victim@example.com"


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
