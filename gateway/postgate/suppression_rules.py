"""Which recipients of a send must be dropped because of the domain's suppression lists.

Pure functions used on the delivery hot path: the worker calls ``Storage.find_suppressions``
once per batch of recipients and hands the result to :func:`drops_for`.

Rules (contract §4.6):

- ``bounces`` → 605 ``suppress-bounce``, unless the address or its domain is on ``whitelists``.
  Mailgun's whitelist only keeps addresses off the bounce list, so it protects against bounces
  and nothing else: a whitelisted address that complained or unsubscribed is still dropped
  (those are the recipient's own choices).
- ``complaints`` → 607 ``suppress-complaint``.
- ``unsubscribes`` → 606 ``suppress-unsubscribe`` when the entry has tag ``*`` (or no tags at
  all, which means the same), or one of the message's tags; tags compare case-insensitively.
- When several lists match, the first of bounce, complaint, unsubscribe wins: a bounce says the
  mailbox does not exist, a complaint is the strongest recipient signal, then unsubscribes.

Addresses compare by :func:`~postgate.addresses.address_key` (trimmed, case-insensitive as a
whole, as Mailgun does); the result is keyed by the addresses as given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .addresses import address_key
from .domain import Suppression

ALL_TAGS = "*"


@dataclass(frozen=True, slots=True)
class Drop:
    """Why one recipient is not sent to: the ``failed`` event's code, reason and description."""

    code: int  # 605, 606 or 607
    reason: str  # "suppress-bounce" | "suppress-unsubscribe" | "suppress-complaint"
    description: str


BOUNCE = Drop(605, "suppress-bounce", "Not delivering to previously bounced address")
UNSUBSCRIBE = Drop(606, "suppress-unsubscribe", "Not delivering to unsubscribed address")
COMPLAINT = Drop(607, "suppress-complaint", "Not delivering to a user who marked your messages as spam")


def domain_part(address: str) -> str:
    """The lower-cased domain of an address (empty if it has no ``@``)."""
    _, at, domain = address.rpartition("@")
    return domain.strip().lower() if at else ""


def is_whitelisted(address: str, whitelist: Iterable[Suppression]) -> bool:
    """Whether ``address`` or its domain is on the given whitelist entries."""
    key = address_key(address)
    domain = domain_part(address)
    for entry in whitelist:
        value = address_key(entry.address)
        if entry.kind == "domain" and value == domain:
            return True
        if entry.kind != "domain" and value == key:
            return True
    return False


def unsubscribe_matches(entry_tags: Sequence[str], message_tags: Sequence[str]) -> bool:
    """Whether an unsubscribe entry with ``entry_tags`` covers a message with ``message_tags``."""
    wanted = {tag.strip().lower() for tag in entry_tags if tag.strip()}
    if not wanted or ALL_TAGS in wanted:
        return True
    return any(tag.strip().lower() in wanted for tag in message_tags)


def drops_for(suppressions: Sequence[Suppression], addresses: Sequence[str],
              tags: Sequence[str]) -> dict[str, Drop]:
    """Given the result of ``Storage.find_suppressions(domain, addresses)`` for one batch,
    which addresses (keys: as given in ``addresses``) must not be sent, and why."""
    if not suppressions:
        return {}
    by_list: dict[str, dict[str, list[Suppression]]] = {}
    whitelist: list[Suppression] = []
    for entry in suppressions:
        if entry.list == "whitelists":
            whitelist.append(entry)
        else:
            by_list.setdefault(entry.list, {}).setdefault(address_key(entry.address), []).append(entry)
    bounces = by_list.get("bounces", {})
    complaints = by_list.get("complaints", {})
    unsubscribes = by_list.get("unsubscribes", {})
    drops: dict[str, Drop] = {}
    for address in addresses:
        key = address_key(address)
        if key in bounces and not is_whitelisted(address, whitelist):
            drops[address] = BOUNCE
        elif key in complaints:
            drops[address] = COMPLAINT
        elif any(unsubscribe_matches(entry.tags, tags) for entry in unsubscribes.get(key, ())):
            drops[address] = UNSUBSCRIBE
    return drops
