"""Delivery status notifications (RFC 3464 ``multipart/report; report-type=delivery-status``).

:func:`parse_dsn` reads one bounce message with the standard library's ``email`` package and
returns one :class:`DsnRecipient` per per-recipient block whose ``Action`` is ``failed`` or
``delayed`` (``delivered``, ``relayed`` and ``expanded`` report success and are left out), with
what identifies the message it bounces: the VERP return path the bounce was addressed to, and the
``Message-ID`` of the returned message or headers. Anything else (an auto-reply, a bounce that is
not a DSN) gives an empty list.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import re
from dataclasses import dataclass
from email.message import Message

from .envelope import verp_ids
from .relay_outcomes import one_line

#: Header fields the final MTA writes the envelope recipient into (the VERP address of a bounce).
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\s*$")
_SMTP_CODE = re.compile(r"^\s*(?:smtp\s*;\s*)?([245]\d\d)\b[\s-]*(.*)$", re.IGNORECASE | re.DOTALL)
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,900})>")
MAX_DSN_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class DsnRecipient:
    """One failed or delayed recipient of a DSN."""

    recipient: str  # Final-Recipient (or Original-Recipient), without its "rfc822;" type
    permanent: bool  # Action "failed": the MTA gave up; "delayed": it is still trying
    status: str  # the enhanced status code, e.g. "5.1.1"
    code: int  # the SMTP code from Diagnostic-Code, else 550 / 450 by the status's class
    diagnostic: str  # the Diagnostic-Code text (or the status when there is none)
    remote_mta: str
    verp: tuple[int, int] | None  # (batch id, ledger row id) from the bounce's envelope address
    original_message_id: str | None  # bare, from the returned message or headers
    dsn_message_id: str | None  # the DSN's own Message-ID


def address_of(field: str | None) -> str:
    """``rfc822; user@example.com`` → ``user@example.com``."""
    if not field:
        return ""
    _, _, value = str(field).rpartition(";")
    return one_line(value).strip().strip("<>").strip()


def _header(message: Message, name: str) -> str:
    value = message.get(name)
    return one_line(str(value)) if value is not None else ""


def _report_parts(message: Message) -> tuple[Message | None, Message | None]:
    """``(message/delivery-status part, returned message or headers)`` of a report."""
    status: Message | None = None
    original: Message | None = None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status" and status is None:
            status = part
        elif kind in ("message/rfc822", "message/global") and original is None:
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                original = payload[0]
        elif kind in ("text/rfc822-headers", "message/global-headers") and original is None:
            text = part.get_payload(decode=True) or b""
            original = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(text)
    return status, original


def _status_blocks(part: Message) -> list[Message]:
    """The field blocks of a ``message/delivery-status`` part (first: per message)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = part.get_payload(decode=True) or b""
    blocks = re.split(rb"\r?\n\r?\n", text.strip())
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    return [parser.parsebytes(block + b"\n\n") for block in blocks if block.strip()]


def _verp(message: Message) -> tuple[int, int] | None:
    for name in ENVELOPE_HEADERS:
        for value in message.get_all(name) or ():
            found = verp_ids(str(value))
            if found is not None:
                return found
    return None


def _message_id(message: Message | None) -> str | None:
    if message is None:
        return None
    match = _MESSAGE_ID.search(_header(message, "Message-ID"))
    return match.group(1) if match else None


def _code_and_text(diagnostic: str, status: str, permanent: bool) -> tuple[int, str]:
    """The SMTP code and text of a Diagnostic-Code; without one, 550/450 by the status's class."""
    match = _SMTP_CODE.match(diagnostic)
    if match:
        return int(match.group(1)), one_line(f"{match.group(1)} {match.group(2)}")
    return (550 if status.startswith("5") else 450), one_line(diagnostic) or status


def parse_dsn(raw: bytes) -> list[DsnRecipient]:
    """The failed and delayed recipients of one DSN (see the module documentation)."""
    if len(raw) > MAX_DSN_BYTES:
        return []
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if message.get_content_type() != "multipart/report":
        return []
    status_part, original = _report_parts(message)
    if status_part is None:
        return []
    verp = _verp(message)
    original_id = _message_id(original)
    own_id = _message_id(message)
    blocks = _status_blocks(status_part)
    per_message = blocks[0] if blocks else None
    reporting = address_of(_header(per_message, "Reporting-MTA")) if per_message is not None else ""
    out = []
    for block in blocks[1:]:
        action = _header(block, "Action").lower().split()[0] if _header(block, "Action") else ""
        if action not in ("failed", "delayed"):
            continue
        recipient = address_of(_header(block, "Final-Recipient")) or address_of(_header(block, "Original-Recipient"))
        status_match = _STATUS.match(_header(block, "Status"))
        if not recipient or status_match is None:
            continue
        status = ".".join(status_match.groups())
        permanent = action == "failed"
        code, text = _code_and_text(_diagnostic(block), status, permanent)
        out.append(DsnRecipient(
            recipient=recipient, permanent=permanent, status=status, code=code, diagnostic=text,
            remote_mta=address_of(_header(block, "Remote-MTA")) or reporting, verp=verp,
            original_message_id=original_id, dsn_message_id=own_id,
        ))
    return out


def _diagnostic(block: Message) -> str:
    """The Diagnostic-Code without its type (``smtp;``), on one line."""
    value = _header(block, "Diagnostic-Code")
    kind, semicolon, rest = value.partition(";")
    return one_line(rest if semicolon and kind.strip().lower() in ("smtp", "x-postfix", "x-unix") else value)


def reason_of(recipient: DsnRecipient) -> str:
    """Mailgun's reason: ``bounce`` for a bad address or mailbox (X.1.Y, X.2.Y) the MTA gave up
    on (the built-in listener suppresses it), ``old`` for a message it gave up retrying,
    ``generic`` otherwise."""
    subject = recipient.status.split(".")[1]
    if recipient.permanent and recipient.status.startswith("5") and subject in ("1", "2"):
        return "bounce"
    if recipient.permanent and recipient.status.startswith("4"):
        return "old"
    return "generic"
