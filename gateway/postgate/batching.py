"""Turning an accepted :class:`Message` into a stored batch and its recipient ledger rows."""

from __future__ import annotations

import hashlib
import time
from .addresses import parse_entry
from .codec import encode_message
from .domain import Message, NewBatch, NewRecipient
from .errors import BadRequest
from .ids import mailgun_message_id, strip_brackets
from .substitution import Substituter, lookup_variables

#: Sizes of the ledger and batch columns (storage/models.py): a longer value cannot be stored
#: on MySQL/MariaDB, so the send is refused with a 400 before anything is stored.
MAX_ADDRESS = 320
MAX_NAME = 255
MAX_EMAIL_ID = 128
MAX_MESSAGE_ID = 255
MAX_RESPONSE_ID = 512


def split_entry(entry: str) -> tuple[str | None, str]:
    """``"Name" <a@b>`` → ``("Name", "a@b")``."""
    name, address = parse_entry(entry)
    return (name or None), address


def envelope_entries(message: Message) -> list[tuple[str, str | None, str]]:
    """Every recipient (to, cc, bcc) as ``(entry, name, address)``, each address once, in order."""
    seen: set[str] = set()
    out: list[tuple[str, str | None, str]] = []
    for entry in [*message.to, *message.cc, *message.bcc]:
        name, address = split_entry(entry)
        key = address.lower()
        if address and key not in seen:
            seen.add(key)
            out.append((entry, name, address))
    return out


def idempotency_key(message: Message, addresses: list[str]) -> str | None:
    """Same email id and same recipients = same batch (Ghost retries a batch unchanged)."""
    if not message.email_id:
        return None
    digest = hashlib.sha256(message.email_id.encode())
    for address in sorted(a.lower() for a in addresses):
        digest.update(b"\n" + address.encode())
    return digest.hexdigest()


def build_batch(message: Message, now: float | None = None) -> tuple[NewBatch, list[NewRecipient]]:
    """The batch row and ledger rows for ``message``; per-recipient Message-Ids are rendered here."""
    now = time.time() if now is None else now
    batch_id = mailgun_message_id(message.domain, now)
    template = message.header("Message-Id")
    entries = envelope_entries(message)
    recipients = []
    for entry, name, address in entries:
        variables = lookup_variables(message.recipient_variables, address)
        if template:
            own_id = strip_brackets(Substituter(entry, variables)(template) or "") or batch_id
        else:
            own_id = batch_id
        recipients.append(NewRecipient(address=address, name=name, message_id=own_id, variables=variables))
    batch = NewBatch(
        domain=message.domain,
        message_id=batch_id,
        response_id=template if template else f"<{batch_id}>",
        email_id=message.email_id,
        idempotency_key=idempotency_key(message, [r.address for r in recipients]),
        tags=list(message.tags),
        content=encode_message(message),
        testmode=message.testmode,
        deliver_at=message.deliver_at,
        created_at=now,
    )
    check_storable(batch, recipients)
    return batch, recipients


def check_storable(batch: NewBatch, recipients: list[NewRecipient]) -> None:
    """Refuse (400) a batch with a value longer than the column that would hold it."""
    if batch.email_id and len(batch.email_id) > MAX_EMAIL_ID:
        raise BadRequest(f"'v:email-id' is longer than {MAX_EMAIL_ID} characters")
    if len(batch.response_id) > MAX_RESPONSE_ID:
        raise BadRequest(f"'h:Message-Id' is longer than {MAX_RESPONSE_ID} characters")
    for recipient in recipients:
        if len(recipient.address) > MAX_ADDRESS:
            raise BadRequest(f"recipient address longer than {MAX_ADDRESS} characters: {recipient.address[:64]}…")
        if recipient.name and len(recipient.name) > MAX_NAME:
            raise BadRequest(f"recipient display name longer than {MAX_NAME} characters: {recipient.address}")
        if len(recipient.message_id) > MAX_MESSAGE_ID:
            raise BadRequest(f"'h:Message-Id' renders longer than {MAX_MESSAGE_ID} characters for {recipient.address}")


