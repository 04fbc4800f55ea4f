"""What one batch of stored events adds to the roll-ups: plain data, no database.

Each event counts once under its kind (``failed`` is split by severity; suppression drops also
count as ``suppressed``; opens and clicks by a bot also count as ``opened_machine`` /
``clicked_machine``) in four slices: its domain by hour, its send, its mailbox provider by hour,
and each of its tags by hour. Opens and clicks are also candidates for a recipient's *first*
open or click of a send, which the writer turns into ``*_unique`` counts.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from postgate import Event

from .providers import provider_of

HOUR = 3600
#: Longest text a key column holds (send keys, tags).
MAX_KEY = 255

DOMAIN, SEND, PROVIDER, TAG = "domain", "send", "provider", "tag"
#: Kinds counted straight from the event type.
PLAIN_KINDS = frozenset({"accepted", "rejected", "delivered", "unsubscribed", "complained", "stored"})
#: Event types that count towards unique (first per recipient and send) figures.
ENGAGEMENTS = ("opened", "clicked")

#: Every kind a counter row can have.
KINDS = (
    "accepted", "rejected", "delivered", "failed_permanent", "suppressed", "failed_temporary",
    "opened", "opened_machine", "opened_unique", "opened_unique_human",
    "clicked", "clicked_machine", "clicked_unique", "clicked_unique_human",
    "unsubscribed", "complained", "stored",
)

#: ``(domain, dimension, value, bucket, kind)``: the key of one counter row.
CountKey = tuple[str, str, str, int, str]


@dataclass(slots=True)
class SendSeen:
    """What a batch tells about one send: when it was seen, and how to show it."""

    email_id: str | None
    first_at: int
    last_at: int
    subject: str = ""
    tags: str = ""


@dataclass(slots=True)
class FirstCandidate:
    """An open or click that is the recipient's first of its kind in the send, unless an earlier
    one is already on record. ``counts`` are what it adds if it is."""

    key: str
    domain: str
    event_id: int
    at: int
    counts: list[CountKey]


@dataclass(slots=True)
class Tally:
    counts: Counter[CountKey] = field(default_factory=Counter)
    sends: dict[tuple[str, str], SendSeen] = field(default_factory=dict)
    firsts: dict[str, FirstCandidate] = field(default_factory=dict)


def kinds_of(event: Event) -> list[str]:
    """The counter kinds one event adds 1 to."""
    kind = event.event
    if kind in PLAIN_KINDS:
        return [kind]
    if kind == "failed":
        if (event.severity or event.payload.get("severity")) == "temporary":
            return ["failed_temporary"]
        reason = str(event.payload.get("reason") or "")
        return ["failed_permanent", "suppressed"] if reason.startswith("suppress-") else ["failed_permanent"]
    if kind in ENGAGEMENTS:
        return [kind, f"{kind}_machine"] if is_machine(event) else [kind]
    return []


def is_machine(event: Event) -> bool:
    """An open or click a bot made (Mailgun's ``client-info.bot``: apple, gmail, generic)."""
    info = event.payload.get("client-info")
    return bool(info.get("bot")) if isinstance(info, dict) else False


def send_key(event: Event) -> str | None:
    """The send an event belongs to: Ghost's ``email-id`` variable, else the message id."""
    variables = event.payload.get("user-variables")
    email_id = event.email_id or (variables.get("email-id") if isinstance(variables, dict) else None)
    key = str(email_id or event.message_id or "")
    return key[:MAX_KEY] or None


def email_id_of(event: Event) -> str | None:
    variables = event.payload.get("user-variables")
    value = event.email_id or (variables.get("email-id") if isinstance(variables, dict) else None)
    return str(value)[:128] if value else None


def recipient_domain(event: Event) -> str:
    domain = event.payload.get("recipient-domain")
    if not domain and event.recipient:
        domain = event.recipient.rpartition("@")[2]
    return str(domain or "").lower()


def tags_of(event: Event) -> list[str]:
    """The event's tags, lower-cased (tags match case-insensitively), each once."""
    return sorted({str(tag).lower()[:MAX_KEY] for tag in event.tags if str(tag).strip()})


def seconds_of(event: Event) -> int:
    return int((event.recorded_at or 0) // 1_000_000)


def first_key(domain: str, send: str, recipient: str, kind: str) -> str:
    """A fixed-size key for (domain, send, recipient, kind): fits any unique index."""
    text = "\x00".join((domain.lower(), send, recipient.lower(), kind))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def subject_of(event: Event) -> str:
    message = event.payload.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    subject = headers.get("subject") if isinstance(headers, dict) else None
    return str(subject or "")[:MAX_KEY]


def slices(event: Event, send: str | None, hour: int) -> list[tuple[str, str, int]]:
    """``(dimension, value, bucket)`` of every slice the event counts in."""
    out = [(DOMAIN, "", hour), (PROVIDER, provider_of(recipient_domain(event)), hour)]
    if send is not None:
        out.append((SEND, send, 0))
    out.extend((TAG, tag, hour) for tag in tags_of(event))
    return out


def tally(events: Iterable[Event], *, count_send: Any = None) -> Tally:
    """Add up a batch of stored events. ``count_send(domain, send_key)`` may say a send's own
    counters are left alone (backfill of a range keeps sends begun before it)."""
    out = Tally()
    for event in events:
        kinds = kinds_of(event)
        if not kinds:
            continue
        domain = event.domain.lower()
        at = seconds_of(event)
        hour = at - at % HOUR
        send = send_key(event)
        if send is not None:
            seen = out.sends.get((domain, send))
            if seen is None:
                seen = out.sends[(domain, send)] = SendSeen(email_id_of(event), at, at)
            seen.first_at, seen.last_at = min(seen.first_at, at), max(seen.last_at, at)
            if not seen.subject:
                seen.subject = subject_of(event)
            if not seen.tags and event.tags:
                seen.tags = json.dumps(list(event.tags))[:1024]
        counted_send = send if send is not None and (count_send is None or count_send(domain, send)) else None
        where = slices(event, counted_send, hour)
        for kind in kinds:
            for dimension, value, bucket in where:
                out.counts[(domain, dimension, value, bucket, kind)] += 1
        if event.event in ENGAGEMENTS and send is not None and event.recipient and event.id is not None:
            unique = [f"{event.event}_unique"]
            if not is_machine(event):
                unique.append(f"{event.event}_unique_human")
            for kind in unique:
                key = first_key(domain, send, event.recipient, kind)
                if key not in out.firsts:  # within a batch the earliest event wins
                    out.firsts[key] = FirstCandidate(
                        key, domain, event.id, at,
                        [(domain, dim, value, bucket, kind) for dim, value, bucket in where])
    return out
