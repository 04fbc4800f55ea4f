"""What one batch of stored events adds to the roll-ups: plain data, no database.

Each event counts once under its kind (``failed`` is split by severity; suppression drops also
count as ``suppressed``; opens and clicks by a bot also count as ``opened_machine`` /
``clicked_machine``) in four slices: its domain, its send, its mailbox provider and each of its
tags; all but the send by hour and again by day. Failures and complaints are also counted by
failure type, SMTP code, enhanced status code and mailbox provider (:func:`failure_key`), by hour
and day, for the bounce explorer. Opens and clicks are also candidates for a recipient's *first*
open or click of a send, which the writer turns into ``*_unique`` counts.

Clicks that carry a ``url`` also count per link of their send (:class:`~.models.LinkCount`):
``clicked`` and ``clicked_human``, and a recipient's first click on that link as
``clicked_unique`` (and ``clicked_unique_human`` when no bot made it).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from postgate import Event

from .providers import provider_of

HOUR = 3600
DAY = 24 * HOUR
#: Longest text a key column holds (send keys, tags).
MAX_KEY = 255

DOMAIN, SEND, PROVIDER, TAG = "domain", "send", "provider", "tag"
#: The same slices by UTC day (what day and month views and long periods read).
DAILY = {DOMAIN: "domain/d", PROVIDER: "provider/d", TAG: "tag/d"}
#: Kinds counted straight from the event type.
PLAIN_KINDS = frozenset({"accepted", "rejected", "delivered", "unsubscribed", "complained", "stored"})
#: Every event type that is counted.
COUNTED = PLAIN_KINDS | {"failed", "opened", "clicked"}
#: Event types whose payload carries the message subject.
WITH_SUBJECT = frozenset({"accepted", "delivered", "failed", "complained", "rejected", "stored"})
#: Event types that count towards unique (first per recipient and send) figures.
ENGAGEMENTS = ("opened", "clicked")

#: The unique kinds an open or click may be the first of (a bot's only counts for all).
UNIQUE = {kind: (f"{kind}_unique",) for kind in ENGAGEMENTS}
UNIQUE_HUMAN = {kind: (f"{kind}_unique", f"{kind}_unique_human") for kind in ENGAGEMENTS}

#: Every kind a counter row can have.
KINDS = (
    "accepted", "rejected", "delivered", "failed_permanent", "suppressed", "failed_temporary",
    "opened", "opened_machine", "opened_unique", "opened_unique_human",
    "clicked", "clicked_machine", "clicked_unique", "clicked_unique_human",
    "unsubscribed", "complained", "stored",
)

#: ``(domain, dimension, value, bucket, kind)``: the key of one counter row.
CountKey = tuple[str, str, str, int, str]
#: ``(domain, send key, url key, kind)``: the key of one link counter row.
LinkKey = tuple[str, str, str, str]
#: Longest URL text kept (the key hashes the whole URL).
MAX_URL = 1024
#: A link's unique kinds; the first-click marks are told apart from the send's by this prefix.
LINK_UNIQUE = {"clicked_unique": "link_unique", "clicked_unique_human": "link_unique_human"}
#: ``(domain, daily, bucket, failure type, code, enhanced code, provider)``: one failure row.
FailureKey = tuple[str, bool, int, str, str, str, str]
#: The bounce explorer's failure types, in the order it shows them.
FAILURE_KINDS = ("hard", "soft", "suppressed", "complaint")


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
    kind: str
    #: ``(mailbox provider, tags, send or None, hour)``: where it counts (see :func:`first_counts`).
    where: tuple


@dataclass(slots=True)
class Tally:
    counts: Counter[CountKey] = field(default_factory=Counter)
    sends: dict[tuple[str, str], SendSeen] = field(default_factory=dict)
    firsts: dict[str, FirstCandidate] = field(default_factory=dict)
    #: Per-link click counts, the text of each link, and first clicks per recipient and link.
    links: Counter[LinkKey] = field(default_factory=Counter)
    urls: dict[tuple[str, str, str], str] = field(default_factory=dict)
    link_firsts: dict[str, FirstCandidate] = field(default_factory=dict)
    failures: Counter[FailureKey] = field(default_factory=Counter)


def _kinds(kind: str, severity: str | None, reason: Any, machine: bool) -> list[str]:
    if kind in PLAIN_KINDS:
        return [kind]
    if kind == "failed":
        if severity != "permanent":  # a failure without severity is temporary, as in the core stats
            return ["failed_temporary"]
        return ["failed_permanent", "suppressed"] if str(reason or "").startswith("suppress-") else ["failed_permanent"]
    if kind in ENGAGEMENTS:
        return [kind, f"{kind}_machine"] if machine else [kind]
    return []


def failure_kind(event: str, severity: str | None, reason: Any) -> str | None:
    """The bounce explorer's type of an event: hard, soft, suppressed (a drop by a suppression
    list) or complaint; ``None`` for any other event."""
    if event == "complained":
        return "complaint"
    if event != "failed":
        return None
    if severity != "permanent":
        return "soft"
    return "suppressed" if str(reason or "").startswith("suppress-") else "hard"


def failure_status(payload: dict[str, Any]) -> tuple[str, str]:
    """``(code, enhanced code)`` of a failure's ``delivery-status`` as text ('' when absent)."""
    status = payload.get("delivery-status")
    if not isinstance(status, dict):
        return "", ""
    code, enhanced = status.get("code"), status.get("enhanced-code")
    return (str(code)[:8] if code not in (None, "") else "",
            str(enhanced)[:16] if enhanced not in (None, "") else "")


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


@lru_cache(maxsize=1024)
def _tags(tags: tuple[str, ...]) -> list[str]:
    return sorted({str(tag).lower()[:MAX_KEY] for tag in tags if str(tag).strip()})


def first_key(domain: str, send: str, recipient: str, kind: str) -> str:
    """A fixed-size key for (domain, send, recipient, kind): fits any unique index."""
    text = "\x00".join((domain.lower(), send, recipient.lower(), kind))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def url_key(url: str) -> str:
    """A fixed-size key for a URL of any length (what the link rows are unique by)."""
    return hashlib.blake2b(url.encode(), digest_size=16).hexdigest()


def clicked_url(event: Event) -> str | None:
    """The link a click went to (Mailgun's ``url``), or ``None``."""
    url = event.payload.get("url")
    return url if isinstance(url, str) and url.strip() else None


def _count_link(out: Tally, event: Event, domain: str, send: str, counted: bool, machine: bool, at: int) -> None:
    url = clicked_url(event)
    if url is None:
        return
    key = url_key(url)
    if counted:
        out.urls.setdefault((domain, send, key), url[:MAX_URL])
        out.links[(domain, send, key, "clicked")] += 1
        if not machine:
            out.links[(domain, send, key, "clicked_human")] += 1
    if not event.recipient or event.id is None:
        return
    for kind, mark in LINK_UNIQUE.items():
        if machine and kind.endswith("_human"):
            continue
        digest = first_key(domain, send, event.recipient, f"{mark}:{key}")
        if digest not in out.link_firsts:
            out.link_firsts[digest] = FirstCandidate(digest, domain, event.id, at, kind, (send, key, counted))


def link_first_counts(firsts: Iterable[FirstCandidate]) -> Counter[LinkKey]:
    """The per-link unique counts of the first clicks that won (of sends being counted)."""
    out: Counter[LinkKey] = Counter()
    for first in firsts:
        send, key, counted = first.where
        if counted:
            out[(first.domain, send, key, first.kind)] += 1
    return out


def subject_of(event: Event) -> str:
    message = event.payload.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    subject = headers.get("subject") if isinstance(headers, dict) else None
    return str(subject or "")[:MAX_KEY]


def _slices(provider: str, tags: tuple[str, ...], send: str | None, hour: int) -> list[tuple[str, str, int]]:
    day = hour - hour % DAY
    out = [(DOMAIN, "", hour), (DAILY[DOMAIN], "", day), (PROVIDER, provider, hour), (DAILY[PROVIDER], provider, day)]
    if send is not None:
        out.append((SEND, send, 0))
    for tag in _tags(tags):
        out += [(TAG, tag, hour), (DAILY[TAG], tag, day)]
    return out


@lru_cache(maxsize=4096)
def _provider(rcpt_domain: str) -> str:
    return provider_of(rcpt_domain)


def recipient_domains(events: Iterable[Event]) -> set[str]:
    """The recipient domains of the events :func:`tally` counts (what MX look-ups are for)."""
    return {str(event.payload.get("recipient-domain") or recipient_domain(event)).lower()
            for event in events if event.event in COUNTED}


def tally(events: Iterable[Event], *, count_send: Any = None, hosted: Mapping[str, str] | None = None) -> Tally:
    """Add up a batch of stored events. ``count_send(domain, send_key)`` may say a send's own
    counters are left alone (backfill of a range keeps sends begun before it); ``hosted`` maps
    recipient domains to the provider their MX hosts showed (see :mod:`.mx_directory`).

    Events are first grouped by everything that decides where they count (most of a batch
    shares it), so the per-event work is a handful of look-ups."""
    out = Tally()
    groups: Counter[tuple] = Counter()
    sends = out.sends
    for event in events:
        kind = event.event
        if kind not in COUNTED:
            continue
        payload = event.payload
        domain = event.domain.lower()
        at = (event.recorded_at or 0) // 1_000_000
        send = send_key(event)
        tags = tuple(event.tags)
        if send is not None:
            seen = sends.get((domain, send))
            if seen is None:
                seen = sends[(domain, send)] = SendSeen(email_id_of(event), at, at)
                if tags:
                    seen.tags = json.dumps(list(tags))[:1024]
            elif at < seen.first_at:
                seen.first_at = at
            elif at > seen.last_at:
                seen.last_at = at
            if not seen.subject and kind in WITH_SUBJECT:
                seen.subject = subject_of(event)
            counted_send = send if count_send is None or count_send(domain, send) else None
        else:
            counted_send = None
        hour = at - at % HOUR
        rcpt_domain = str(payload.get("recipient-domain") or recipient_domain(event)).lower()
        provider = (hosted.get(rcpt_domain) if hosted else None) or _provider(rcpt_domain)
        if kind in ("failed", "complained"):
            severity = event.severity or payload.get("severity")
            name = failure_kind(kind, severity, payload.get("reason"))
            code, enhanced = failure_status(payload)
            out.failures[(domain, False, hour, name, code, enhanced, provider)] += 1
            out.failures[(domain, True, hour - hour % DAY, name, code, enhanced, provider)] += 1
        if kind == "failed":
            groups[(domain, counted_send, hour, provider, tags, kind,
                    event.severity or payload.get("severity"), payload.get("reason"), False)] += 1
        elif kind in ENGAGEMENTS:
            machine = is_machine(event)
            groups[(domain, counted_send, hour, provider, tags, kind, None, None, machine)] += 1
            if kind == "clicked" and send is not None:
                _count_link(out, event, domain, send, counted_send is not None, machine, at)
            if send is not None and event.recipient and event.id is not None:
                where = (provider, tags, counted_send, hour)
                unique = UNIQUE[kind] if machine else UNIQUE_HUMAN[kind]
                for name in unique:
                    key = first_key(domain, send, event.recipient, name)
                    if key not in out.firsts:  # within a batch the earliest event wins
                        out.firsts[key] = FirstCandidate(key, domain, event.id, at, name, where)
        else:
            groups[(domain, counted_send, hour, provider, tags, kind, None, None, False)] += 1
    _expand(groups, out.counts)
    return out


def first_counts(firsts: Iterable[FirstCandidate]) -> Counter[CountKey]:
    """The ``*_unique`` counts of the firsts that won."""
    groups: Counter[tuple] = Counter()
    for first in firsts:
        provider, tags, send, hour = first.where
        groups[(first.domain, send, hour, provider, tags, first.kind, None, None, None)] += 1
    return _expand(groups, Counter())


def _expand(groups: Counter[tuple], counts: Counter[CountKey]) -> Counter[CountKey]:
    """Group counts to counter rows: each group's kinds in each of its slices."""
    for (domain, send, hour, provider, tags, kind, severity, reason, machine), n in groups.items():
        where = _slices(provider, tags, send, hour)
        names = [kind] if machine is None else _kinds(kind, severity, reason, machine)
        for name in names:
            for dimension, value, bucket in where:
                counts[(domain, dimension, value, bucket, name)] += n
    return counts
