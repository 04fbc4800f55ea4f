"""One SMTP transaction as a core :class:`~postgate.Message`, exactly as ``messages.mime`` builds it.

The message's header block is read at the byte level: Mailgun's ``X-Mailgun-*`` sending options
are taken out and become the send call's ``o:``/``h:`` fields (``X-Mailgun-Tag`` → ``o:tag``…),
``Bcc`` is dropped (it must never reach the recipients) and a ``Message-ID`` becomes
``h:Message-Id`` (the id events and the SMTP reply report; Postgate writes it back when it renders
the message). Every other byte is kept as sent. The envelope recipients are the ``to`` field, and
the result goes through the Mailgun API's own parser for raw MIME, so an SMTP message is checked
and stored the way ``POST /v3/<domain>/messages.mime`` would store it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from werkzeug.datastructures import FileStorage, MultiDict

from postgate import BadRequest, Message
from postgate.headers import MESSAGE_ID, UnsafeMime, check_mime, header_block
from postgate.ids import strip_brackets
from postgate.mailgun.message_form import parse_mime_message

#: Mailgun's SMTP headers and the send-call field each stands for (Mailgun's "sending options").
MAILGUN_HEADERS = {
    "x-mailgun-tag": "o:tag",
    "x-mailgun-dkim": "o:dkim",
    "x-mailgun-deliver-by": "o:deliverytime",
    "x-mailgun-drop-message": "o:testmode",
    "x-mailgun-track": "o:tracking",
    "x-mailgun-track-clicks": "o:tracking-clicks",
    "x-mailgun-track-opens": "o:tracking-opens",
    "x-mailgun-require-tls": "o:require-tls",
    "x-mailgun-skip-verification": "o:skip-verification",
    "x-mailgun-sending-ip": "o:sending-ip",
    "x-mailgun-sending-ip-pool": "o:sending-ip-pool",
    "x-mailgun-variables": "h:X-Mailgun-Variables",
    "x-mailgun-recipient-variables": "recipient-variables",
}
#: Header fields never passed on as sent: Mailgun's options (all ``X-Mailgun-*``), ``Bcc``, and
#: ``Message-ID`` (written back by rendering from the id the batch keeps).
PREFIX = b"x-mailgun-"
DROPPED = (b"bcc", b"message-id")
#: The largest header block read (Postfix's default ``header_size_limit`` is 100 KiB).
MAX_HEADER_BYTES = 256 * 1024


class HeaderTooLarge(BadRequest):
    status = 413


@dataclass(slots=True)
class SplitHeaders:
    """A message with its Mailgun options taken out."""

    raw: bytes
    fields: list[tuple[str, str]] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)


def split_headers(raw: bytes) -> SplitHeaders:
    """``raw`` without its ``X-Mailgun-*``, ``Bcc`` and ``Message-ID`` fields, and the send-call
    fields they stand for. ``raw``'s header block must have passed :func:`check_mime`."""
    block, eol = header_block(raw)
    if len(block) > MAX_HEADER_BYTES:
        raise HeaderTooLarge(f"the message header is larger than {MAX_HEADER_BYTES // 1024} KiB")
    kept: list[bytes] = []
    out = SplitHeaders(raw=b"")
    for lines in header_fields(block.split(eol)):
        name, _, _ = lines[0].partition(b":")
        lower = name.strip().lower()
        if not lower.startswith(PREFIX) and lower not in DROPPED:
            kept.extend(lines)
            continue
        value = b"".join(lines)[len(name) + 1:].decode("utf-8").strip()  # unfolded (check_mime: UTF-8)
        if lower == b"message-id":
            out.message_ids.append(value)
        elif (target := MAILGUN_HEADERS.get(lower.decode("ascii"))) is not None:
            out.fields.append((target, value))
    rest = raw[len(block):] or (eol if raw.endswith(eol) else b"")  # a message of headers only
    out.raw = eol.join(kept) + rest
    return out


def header_fields(lines: list[bytes]) -> list[list[bytes]]:
    """Header lines grouped by field: each field's first line with its continuation lines."""
    fields: list[list[bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        elif line:
            fields.append([line])
    return fields


def usable_message_id(values: list[str]) -> str | None:
    """The client's Message-ID when there is exactly one, valid and without ``%`` (which the
    batch would take for a ``%recipient.KEY%`` template); else ``None`` and Postgate makes one."""
    if len(values) != 1:
        return None
    bare = strip_brackets(values[0])
    if "%" in bare or MESSAGE_ID.fullmatch(bare) is None:
        return None
    return f"<{bare}>"


@dataclass(slots=True)
class Envelope:
    """What the SMTP dialogue said: the authenticated domain, MAIL FROM, the RCPT TO addresses."""

    domain: str
    mail_from: str
    recipients: list[str]


def smtp_message(envelope: Envelope, raw: bytes) -> Message:
    """The :class:`Message` for one SMTP transaction; :class:`~postgate.BadRequest` (with the
    Mailgun API's text) when the message would be refused over HTTP too."""
    try:
        check_mime(raw)
    except UnsafeMime as exc:
        raise BadRequest(f"the message is not a valid MIME message: {exc}") from None
    split = split_headers(raw)
    fields: MultiDict[str, str] = MultiDict([("to", address) for address in envelope.recipients])
    for name, value in split.fields:
        fields.add(name, value)
    if (message_id := usable_message_id(split.message_ids)) is not None:
        fields.add("h:Message-Id", message_id)
    files = MultiDict([("message", FileStorage(io.BytesIO(split.raw), filename="message.mime"))])
    message = parse_mime_message(fields, files, envelope.domain)
    if not message.sender:  # no From header: the envelope sender stands in
        message.sender = envelope.mail_from
    return message
