"""Storing an unsubscribe, whichever way it came (a link's ``POST`` or a mail to a signed address).

An unsubscribe is stored before it is answered: the ``unsubscribes`` entry first (every tag for a
domain or mailing-list token, the message's tags for a tag token, widened and never narrowed), then
a Mailgun ``unsubscribed`` event through ``gateway.record_events`` with the batch's tags, user
variables and message id. The event key is fixed per recipient and scope, so a repeated
unsubscribe (by link or by mail) records nothing new. The core's suppression listener sees the new
event and writes the same entry again (it merges with the one already there), so nothing is added
twice.
"""

from __future__ import annotations

import time

from postgate import Gateway, Recipient, Suppression

from .clients import ClientDescription
from .recording import BatchInfo
from .state import Tracking
from .unsubscribe import DOMAIN, MAILING_LIST, UnsubscribeClaim

EVERY_TAG = "*"
#: What an unsubscribe by mail says of its client: no reader's address, agent or place is known.
MAIL_CLIENT = ClientDescription(client_info={"client-type": "", "client-os": "", "device-type": "",
                                             "client-name": "", "user-agent": "", "bot": ""},
                                geolocation=None, ip=None)


async def resolve_claim(state: Tracking, claim: UnsubscribeClaim) -> tuple[BatchInfo, Recipient] | None:
    """The batch and ledger row a verified claim names, or ``None`` (purged, or not of that batch)."""
    info = await state.recorder.batch(claim.batch_id)
    if info is None:
        return None
    rows = await state.recorder.gateway.storage.get_recipients([claim.recipient_id])
    if not rows or rows[0].batch_id != claim.batch_id:
        return None
    return info, rows[0]


def scope_name(claim: UnsubscribeClaim) -> str:
    return {DOMAIN: "domain", MAILING_LIST: "mailing-list"}.get(claim.scope, "tags")


def merged_tags(existing: Suppression | None, tags: list[str]) -> list[str]:
    """The entry's tags after this unsubscribe: ``*`` absorbs everything, others are added."""
    if existing is None:
        return tags or [EVERY_TAG]
    old = list(existing.tags) or [EVERY_TAG]
    if EVERY_TAG in old or not tags:
        return [EVERY_TAG]
    seen = {tag.lower() for tag in old}
    return old + [tag for tag in tags if tag.lower() not in seen]


async def add_unsubscribe(gateway: Gateway, domain: str, address: str, tags: list[str]) -> None:
    """Put ``address`` on the domain's unsubscribes for ``tags`` (every tag when empty)."""
    found = await gateway.storage.find_suppressions(domain, [address])
    existing = next((entry for entry in found if entry.list == "unsubscribes"
                     and entry.address.strip().lower() == address.lower()), None)
    wanted = merged_tags(existing, tags)
    if existing is not None and wanted == list(existing.tags):
        return
    await gateway.storage.add_suppressions([Suppression(domain, "unsubscribes", address, tags=wanted,
                                                        created_at=time.time())])


async def record_unsubscribe(state: Tracking, claim: UnsubscribeClaim, info: BatchInfo, recipient: Recipient,
                             client: ClientDescription, user_agent: str = "") -> None:
    """Store the unsubscribe: the list entry, then the ``unsubscribed`` event (idempotent)."""
    gateway = state.recorder.gateway
    await add_unsubscribe(gateway, info.batch.domain.lower(), recipient.address, claim.tags(list(info.batch.tags)))
    event = info.events.unsubscribed(recipient, key=f"unsubscribed:{recipient.id}:{claim.scope}",
                                     ip=client.ip or "", user_agent=user_agent, geolocation=client.geolocation,
                                     client_info={**client.client_info, "bot": ""})
    if client.ip is None:
        event.payload.pop("ip", None)
    if client.geolocation is None:
        event.payload.pop("geolocation", None)
    event.payload["unsubscribe-scope"] = scope_name(claim)
    await gateway.record_events([event])
