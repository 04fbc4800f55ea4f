"""Built-in plugin: keep the suppression lists in step with recorded events (contract §4.6).

- A hard bounce (``failed``, severity ``permanent``, reason ``bounce``) adds the recipient to
  ``bounces`` with the delivery status code and message, unless the address or its domain is
  whitelisted. Suppression drops (605/606/607), soft bounces and ``generic``/``old``/``espblock``
  failures are not added.
- ``complained`` adds the recipient to ``complaints``.
- ``unsubscribed`` adds the recipient to ``unsubscribes`` with the event's tags (``*`` when it has
  none). An existing entry is widened, never narrowed: its tags are kept, and ``*`` stays ``*``.

Per call: one ``find_suppressions`` per domain with bounces or unsubscribes, and one
``add_suppressions`` for everything.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..domain import Event, Suppression
from ..hookspecs import hookimpl
from ..suppression_rules import ALL_TAGS, is_whitelisted

DEFAULT_BOUNCE_CODE = 550


def is_hard_bounce(event: Event) -> bool:
    """A permanent ``failed`` event with reason ``bounce`` (not a suppression drop)."""
    if event.event != "failed":
        return False
    severity = event.payload.get("severity") or event.severity
    return severity == "permanent" and event.payload.get("reason") == "bounce"


def recipient_of(event: Event) -> str | None:
    recipient = event.recipient or event.payload.get("recipient")
    return recipient.strip() if isinstance(recipient, str) and recipient.strip() else None


def event_time(event: Event) -> float:
    return event.recorded_at / 1_000_000 if event.recorded_at else time.time()


def event_tags(event: Event) -> list[str]:
    tags = event.payload.get("tags")
    if not isinstance(tags, list):
        tags = event.tags
    return [str(tag) for tag in tags if str(tag).strip()]


def bounce_status(payload: dict[str, Any]) -> tuple[int, str]:
    """Code and message of a bounce from its ``delivery-status``."""
    status = payload.get("delivery-status") or {}
    code = status.get("code")
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = DEFAULT_BOUNCE_CODE
    message = status.get("message") or status.get("description") or ""
    return code, str(message)


def merge_tags(existing: Suppression | None, new: list[str]) -> list[str]:
    """Tags of an unsubscribe entry after adding ``new`` (``*`` absorbs everything)."""
    tags = list(existing.tags) if existing is not None else []
    if not new or ALL_TAGS in new or (existing is not None and (not tags or ALL_TAGS in tags)):
        return [ALL_TAGS]
    seen = {tag.lower() for tag in tags}
    for tag in new:
        if tag.lower() not in seen:
            seen.add(tag.lower())
            tags.append(tag)
    return tags


async def suppressions_for(gateway: Any, events: Sequence[Event]) -> list[Suppression]:
    """The list entries ``events`` call for, after the whitelist and existing entries."""
    wanted: dict[tuple[str, str, str], Suppression] = {}
    lookups: dict[str, set[str]] = {}
    for event in events:
        recipient = recipient_of(event)
        if recipient is None:
            continue
        domain = event.domain.lower()
        created = event_time(event)
        if is_hard_bounce(event):
            code, message = bounce_status(event.payload)
            entry = Suppression(domain, "bounces", recipient, code=code, error=message, created_at=created)
        elif event.event == "complained":
            entry = Suppression(domain, "complaints", recipient, created_at=created)
        elif event.event == "unsubscribed":
            entry = Suppression(domain, "unsubscribes", recipient, tags=event_tags(event), created_at=created)
            previous = wanted.get((domain, entry.list, recipient.lower()))
            if previous is not None:
                entry.tags = merge_tags(previous, entry.tags)
        else:
            continue
        wanted[(domain, entry.list, recipient.lower())] = entry
        if entry.list != "complaints":
            lookups.setdefault(domain, set()).add(recipient)
    found: dict[str, list[Suppression]] = {}
    for domain, addresses in lookups.items():
        found[domain] = await gateway.storage.find_suppressions(domain, sorted(addresses))
    out = []
    for (domain, list_name, key), entry in wanted.items():
        existing = found.get(domain, [])
        if list_name == "bounces":
            if is_whitelisted(entry.address, [e for e in existing if e.list == "whitelists"]):
                continue
        elif list_name == "unsubscribes":
            current = next((e for e in existing if e.list == "unsubscribes"
                            and e.address.strip().lower() == key), None)
            entry.tags = merge_tags(current, entry.tags) if current is not None else (entry.tags or [ALL_TAGS])
        out.append(entry)
    return out


@hookimpl(trylast=True)
async def events_recorded(gateway, events):
    """Add hard bounces, complaints and unsubscribes to the suppression lists."""
    entries = await suppressions_for(gateway, events)
    if entries:
        await gateway.storage.add_suppressions(entries)
