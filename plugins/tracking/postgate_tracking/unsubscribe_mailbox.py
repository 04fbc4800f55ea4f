"""The unsubscribe mailbox: mail to a signed ``u-<token>@<unsubscribe_mail_domain>`` address
unsubscribes its recipient, as the link's one-click ``POST`` does (``unsubscribing``).

The plugin claims an address (``claims_recipient``) only when it is at a configured
``unsubscribe_mail_domain``, its local part verifies under a listed key and its batch and ledger
row still exist; anything else is left unclaimed, so the SMTP listener refuses it at RCPT time and
nothing is recorded. The message itself is not read: the address says everything.
"""

from __future__ import annotations

import logging

from postgate import Gateway, InboundMail, Recipient

from .recording import BatchInfo
from .state import Tracking, tracking_for
from .unsubscribe import UnsubscribeClaim
from .unsubscribe_address import verify_local_part
from .unsubscribing import MAIL_CLIENT, record_unsubscribe, resolve_claim

log = logging.getLogger("postgate.tracking.unsubscribe_mailbox")


async def resolve_address(state: Tracking, address: str) -> tuple[UnsubscribeClaim, BatchInfo, Recipient] | None:
    """The claim, batch and ledger row of a genuine unsubscribe address, or ``None``."""
    local, _, domain = address.rpartition("@")
    domain = domain.lower().rstrip(".")
    if state.signer is None or domain not in state.settings.unsubscribe_mail_domains():
        return None
    claim = verify_local_part(state.signer, local)
    found = None if claim is None else await resolve_claim(state, claim)
    if found is None or state.settings.for_domain(found[0].batch.domain).unsubscribe_mail_domain != domain:
        return None  # an address at another sending domain's mail domain is not this one's
    return (claim, *found)


async def claims(gateway: Gateway, address: str) -> bool | None:
    """``True`` for a genuine unsubscribe address, else ``None`` (the listener then refuses it)."""
    return True if await resolve_address(tracking_for(gateway), address) is not None else None


async def received(gateway: Gateway, mail: InboundMail) -> None:
    """Unsubscribe the recipient of every genuine unsubscribe address the mail was sent to."""
    state = tracking_for(gateway)
    for address in mail.recipients:
        found = await resolve_address(state, address)
        if found is None:
            continue
        await record_unsubscribe(state, *found, MAIL_CLIENT)
        log.info("unsubscribed by mail from %s (batch %d)", mail.peer, found[0].batch_id)
