"""Upstream Mailgun events → Postgate's ledger and events, batch-shaped.

An upstream event is matched to its ledger row by the ``postgate-rcpt`` user variable the relay
attached (checked against ``postgate-batch`` and the recipient address), else by the upstream
message id recorded on the row. ``accepted`` only records the upstream message id on the row
(settling a send whose answer was lost); ``delivered``, ``failed``, ``opened``, ``clicked``,
``unsubscribed`` and ``complained`` become the same Postgate events, built from the batch so that
they carry its tags, user variables and the message id Ghost stored. Each gets the key
``mailgun:<upstream domain>:<upstream event id>``: an event read twice is stored once. Events of
mail Postgate did not send (other senders of the upstream account) are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from postgate import Event, EventBuilder, EventBuilders, Recipient

from .delivery import BATCH_VARIABLE, RCPT_VARIABLE
from .outcomes import bare_id

log = logging.getLogger("postgate.mailgun_relay.events")

KEY_PREFIX = "mailgun:"
RECORDED = frozenset({"delivered", "failed", "opened", "clicked", "unsubscribed", "complained"})
#: Longest text copied from an upstream event into a stored one.
MAX_TEXT = 1000
CACHE_SIZE = 64


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """A printable single-line string of at most ``limit`` characters."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in str(value if value is not None else ""))
    return " ".join(cleaned.split())[:limit]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if 0 <= number < 1000 else default


@dataclass(slots=True)
class Mapped:
    """What one upstream page gave: events to store, provider ids to record, events skipped."""

    events: list[Event] = field(default_factory=list)
    provider_ids: dict[int, str] = field(default_factory=dict)
    skipped: int = 0


class UpstreamMapper:
    """Maps pages of upstream events; keeps a small LRU of the batches' event builders."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self.builders = EventBuilders(gateway, size=CACHE_SIZE)

    async def _rows(self, items: Sequence[dict[str, Any]]) -> list[Recipient | None]:
        """Each item's ledger row: by ``postgate-rcpt``, else by the upstream message id."""
        storage = self.gateway.storage
        wanted = {i: _rcpt(item) for i, item in enumerate(items)}
        ids = sorted({v for v in wanted.values() if v is not None})
        by_id = {row.id: row for row in await storage.get_recipients(ids)} if ids else {}
        missing = sorted({_message_id(item) for i, item in enumerate(items) if wanted[i] is None} - {""})
        by_provider = {row.provider_id: row for row in await storage.find_recipients(missing)} if missing else {}
        rows: list[Recipient | None] = []
        for index, item in enumerate(items):
            rcpt = wanted[index]
            row = by_id.get(rcpt) if rcpt is not None else by_provider.get(_message_id(item))
            rows.append(row if row is not None and _belongs(item, row) else None)
        return rows

    async def map(self, domain: str, items: Sequence[dict[str, Any]]) -> Mapped:
        """Map one page of upstream ``items`` read from upstream ``domain``."""
        mapped = Mapped()
        for item, row in zip(items, await self._rows(items)):
            kind = item.get("event")
            if row is None:
                mapped.skipped += 1
                continue
            upstream_id = _message_id(item)
            if upstream_id and row.provider_id is None:
                mapped.provider_ids.setdefault(row.id, upstream_id)
            if kind not in RECORDED:
                continue
            builder = await self.builders.get(row.batch_id)
            if builder is None:
                mapped.skipped += 1
                continue
            event = build(builder, row, str(kind), item)
            event.key = f"{KEY_PREFIX}{domain}:{text(item.get('id'), 200) or _fallback_key(item)}"
            mapped.events.append(event)
        return mapped


def build(builder: EventBuilder, row: Recipient, kind: str, item: dict[str, Any]) -> Event:
    """The Postgate event for one upstream event of a recorded ``kind``."""
    status = _dict(item.get("delivery-status"))
    client = _dict(item.get("client-info"))
    ip, agent = text(item.get("ip"), 64), text(client.get("user-agent"), 500)
    if kind == "delivered":
        return builder.delivered(row, message=text(status.get("message")) or "OK",
                                 mx_host=text(status.get("mx-host"), 255))
    if kind == "failed":
        permanent = item.get("severity") != "temporary"
        return builder.failed(row, permanent=permanent, code=_int(status.get("code"), 550 if permanent else 451),
                              message=text(status.get("message")), description=text(status.get("description")),
                              enhanced_code=text(status.get("enhanced-code"), 16),
                              reason=text(item.get("reason"), 64) or "generic",
                              mx_host=text(status.get("mx-host"), 255))
    if kind == "opened":
        return builder.opened(row, ip=ip, user_agent=agent)
    if kind == "clicked":
        return builder.clicked(row, url=text(item.get("url"), 2000), ip=ip, user_agent=agent)
    if kind == "unsubscribed":
        return builder.unsubscribed(row, ip=ip, user_agent=agent)
    return builder.complained(row)


def _rcpt(item: dict[str, Any]) -> int | None:
    value = str(_dict(item.get("user-variables")).get(RCPT_VARIABLE) or "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def _message_id(item: dict[str, Any]) -> str:
    headers = _dict(_dict(item.get("message")).get("headers"))
    return bare_id(text(headers.get("message-id"), 255))


def _belongs(item: dict[str, Any], row: Recipient) -> bool:
    """Guard against another installation's ids on a shared upstream account."""
    batch = _dict(item.get("user-variables")).get(BATCH_VARIABLE)
    if batch is not None and str(batch) != str(row.batch_id):
        return False
    recipient = item.get("recipient")
    return not isinstance(recipient, str) or recipient.strip().lower() == row.address.strip().lower()


def _fallback_key(item: dict[str, Any]) -> str:
    import hashlib
    import json

    body = json.dumps(item, sort_keys=True, default=str).encode()
    return hashlib.sha256(body).hexdigest()
