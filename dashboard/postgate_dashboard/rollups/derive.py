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
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from postgate import Event

from .providers import provider_of

HOUR = 3600
DAY = 24 * HOUR
#: Longest text a key column holds (send keys, tags).
MAX_KEY = 255

DOMAIN, SEND, PROVIDER, TAG = "domain", "send", "provider", "tag"
#: The same slices by UTC day (what day views and long periods read).
DAILY = {DOMAIN: "domain/d", PROVIDER: "provider/d", TAG: "tag/d"}
#: The same slices by UTC month (what month views read: a year is a dozen rows per kind).
MONTHLY = {DOMAIN: "domain/m", PROVIDER: "provider/m", TAG: "tag/m"}
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


class FirstCandidate(NamedTuple):
    """An open or click that is the recipient's first of its kind in the send, unless an earlier
    one is already on record. A tuple of plain values, so the garbage collector stops tracking it
    (thousands wait for each write)."""

    key: str
    domain: str
    event_id: int
    at: int
    kind: str
    #: ``(recipient domain, tags, send or None, hour)``: where it counts (see :func:`first_counts`).
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
    #: Failures added up by hour and recipient domain (:meth:`expand` places the domain).
    failed: Counter[tuple] = field(default_factory=Counter)
    #: Events added up, by everything that decides where they count (see :meth:`expand`).
    groups: Counter[tuple] = field(default_factory=Counter)
    #: How many events were added.
    events: int = 0

    def add(self, events: Iterable[Event], *, count_send: Any = None) -> None:
        """Add ``events`` (in the order recorded: within a tally the earliest first open wins)."""
        _add(self, events, count_send)

    #: Recipient domain to the provider its MX hosts showed, as given to :meth:`expand`.
    hosted: Mapping[str, str] = field(default_factory=dict)

    def expand(self, hosted: Mapping[str, str] | None = None) -> Tally:
        """Fill :attr:`counts` and :attr:`failures` from what was added (again from scratch if
        called again). ``hosted`` maps recipient domains to the provider their MX hosts showed."""
        self.hosted = hosted or {}
        place = _placer(self.hosted)
        self.counts = _expand(self.groups, Counter(), place)
        self.failures = _expand_failures(self.failed, place)
        return self

    def recipient_domains(self) -> set[str]:
        """The recipient domains of what was added (what MX look-ups are for)."""
        return {key[3].lower() for key in self.groups}

    def merge(self, later: Tally) -> None:
        """Add a later tally of the same gateway to this one."""
        self.groups.update(later.groups)
        self.links.update(later.links)
        self.failed.update(later.failed)
        self.events += later.events
        for key, url in later.urls.items():
            self.urls.setdefault(key, url)
        for mine, theirs in ((self.firsts, later.firsts), (self.link_firsts, later.link_firsts)):
            for key, first in theirs.items():
                mine.setdefault(key, first)
        for key, seen in later.sends.items():
            have = self.sends.get(key)
            if have is None:
                self.sends[key] = seen
                continue
            have.first_at, have.last_at = min(have.first_at, seen.first_at), max(have.last_at, seen.last_at)
            have.subject, have.tags = have.subject or seen.subject, have.tags or seen.tags
            have.email_id = have.email_id or seen.email_id


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
    return _digest("\x00".join((domain.lower(), send, recipient.lower(), kind)))


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


@lru_cache(maxsize=4096)
def month_start(t: int) -> int:
    """Epoch seconds of the first instant of ``t``'s UTC month."""
    day = datetime.fromtimestamp(t, UTC)
    return int(datetime(day.year, day.month, 1, tzinfo=UTC).timestamp())


@lru_cache(maxsize=4096)
def _provider(rcpt_domain: str) -> str:
    return provider_of(rcpt_domain)


def _placer(hosted: Mapping[str, str] | None) -> Any:
    """A function from a recipient domain (any case) to its mailbox provider: the MX-found
    provider in ``hosted`` first, else the name rules."""
    hosted = hosted or {}
    placed: dict[str, str] = {}

    def place(rcpt_domain: str) -> str:
        provider = placed.get(rcpt_domain)
        if provider is None:
            lowered = rcpt_domain.lower()
            provider = placed[rcpt_domain] = hosted.get(lowered) or _provider(lowered)
        return provider
    return place


def recipient_domains(events: Iterable[Event]) -> set[str]:
    """The recipient domains of the events :func:`tally` counts (what MX look-ups are for)."""
    return {str(event.payload.get("recipient-domain") or recipient_domain(event)).lower()
            for event in events if event.event in COUNTED}


def tally(events: Iterable[Event], *, count_send: Any = None, hosted: Mapping[str, str] | None = None) -> Tally:
    """Add up a batch of stored events. ``count_send(domain, send_key)`` may say a send's own
    counters are left alone (backfill of a range keeps sends begun before it); ``hosted`` maps
    recipient domains to the provider their MX hosts showed (see :mod:`.mx_directory`)."""
    out = Tally()
    out.add(events, count_send=count_send)
    return out.expand(hosted)


def _add(out: Tally, events: Iterable[Event], count_send: Any) -> None:
    """Events are grouped by everything that decides where they count (most of a batch shares
    it), so the per-event work is a handful of look-ups. What consecutive events share (their
    domain, the second a call stamps, their send) is worked out once per run of them."""
    groups, sends, firsts = out.groups, out.sends, out.firsts
    raw_domain: Any = None
    stamp: Any = None
    send_of: tuple[str, str | None] | None = None
    domain = ""
    at = hour = 0
    seen: SendSeen | None = None
    counted_send: str | None = None
    seen_events = 0
    for event in events:
        seen_events += 1
        kind = event.event
        if kind not in COUNTED:
            continue
        if event.domain != raw_domain:
            raw_domain, domain, send_of = event.domain, event.domain.lower(), None
        if event.recorded_at != stamp:
            stamp = event.recorded_at
            at = (stamp or 0) // 1_000_000
            hour = at - at % HOUR
        payload = event.payload
        email_id = event.email_id
        send = email_id[:MAX_KEY] if email_id and type(email_id) is str else send_key(event)
        tags = tuple(event.tags)
        if send is not None:
            if send_of is None or send_of[0] != send:
                seen = sends.get((domain, send))
                if seen is None:
                    seen = sends[(domain, send)] = SendSeen(email_id_of(event), at, at)
                    if tags:
                        seen.tags = json.dumps(list(tags))[:1024]
                counted_send = send if count_send is None or count_send(domain, send) else None
                send_of = (send, counted_send)
            if at < seen.first_at:  # type: ignore[union-attr]
                seen.first_at = at  # type: ignore[union-attr]
            elif at > seen.last_at:  # type: ignore[union-attr]
                seen.last_at = at  # type: ignore[union-attr]
            if not seen.subject and kind in WITH_SUBJECT:  # type: ignore[union-attr]
                seen.subject = subject_of(event)  # type: ignore[union-attr]
            counted = send_of[1]
        else:
            counted = None
        rcpt_domain = payload.get("recipient-domain") or recipient_domain(event)
        if type(rcpt_domain) is not str:  # a payload may hold anything
            rcpt_domain = str(rcpt_domain)
        if kind in PLAIN_KINDS:
            if kind == "complained":
                _count_failure(out, event, domain, hour, kind, rcpt_domain)
            groups[(domain, counted, hour, rcpt_domain, tags, kind, None, None, False)] += 1
        elif kind == "failed":
            _count_failure(out, event, domain, hour, kind, rcpt_domain)
            groups[(domain, counted, hour, rcpt_domain, tags, kind,
                    event.severity or payload.get("severity"), payload.get("reason"), False)] += 1
        else:  # an engagement
            machine = is_machine(event)
            groups[(domain, counted, hour, rcpt_domain, tags, kind, None, None, machine)] += 1
            if kind == "clicked" and send is not None:
                _count_link(out, event, domain, send, counted is not None, machine, at)
            if send is not None and event.recipient and event.id is not None:
                where = (rcpt_domain, tags, counted, hour)
                base = f"{domain}\x00{send}\x00{event.recipient.lower()}\x00"
                for name in UNIQUE[kind] if machine else UNIQUE_HUMAN[kind]:
                    key = _digest(base + name)
                    if key not in firsts:  # within a batch the earliest event wins
                        firsts[key] = FirstCandidate(key, domain, event.id, at, name, where)
    out.events += seen_events


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _count_failure(out: Tally, event: Event, domain: str, hour: int, kind: str, rcpt_domain: str) -> None:
    payload = event.payload
    name = failure_kind(kind, event.severity or payload.get("severity"), payload.get("reason"))
    code, enhanced = failure_status(payload)
    out.failed[(domain, hour, name, code, enhanced, rcpt_domain)] += 1


def _expand_failures(failed: Counter[tuple], place: Any) -> Counter[FailureKey]:
    """Failure rows, by hour and by day, of failures added up by recipient domain."""
    out: Counter[FailureKey] = Counter()
    for (domain, hour, name, code, enhanced, rcpt_domain), n in failed.items():
        provider = place(rcpt_domain)
        out[(domain, False, hour, name, code, enhanced, provider)] += n
        out[(domain, True, hour - hour % DAY, name, code, enhanced, provider)] += n
    return out


def first_counts(firsts: Iterable[FirstCandidate], hosted: Mapping[str, str] | None = None) -> Counter[CountKey]:
    """The ``*_unique`` counts of the firsts that won (``hosted`` as for :meth:`Tally.expand`)."""
    place = _placer(hosted)
    by_send: Counter[tuple] = Counter()
    by_hour: Counter[tuple] = Counter()
    for first in firsts:
        rcpt_domain, tags, send, hour = first.where
        by_hour[(first.domain, hour, place(rcpt_domain), tags, first.kind)] += 1
        if send is not None:
            by_send[(first.domain, send, first.kind)] += 1
    return _rows(by_send, by_hour, Counter())


def _expand(groups: Counter[tuple], counts: Counter[CountKey], place: Any) -> Counter[CountKey]:
    """Group counts to counter rows: each group's kinds in each of its slices.

    Folded in two steps, so each counter row is added to once per distinct key rather than once
    per group: by send (no time), and by hour, provider and tags (no send); the day and month
    rows are then sums of the hour rows."""
    by_send: Counter[tuple] = Counter()
    by_hour: Counter[tuple] = Counter()
    for (domain, send, hour, rcpt_domain, tags, kind, severity, reason, machine), n in groups.items():
        provider = place(rcpt_domain)
        for name in _kinds(kind, severity, reason, machine):
            by_hour[(domain, hour, provider, tags, name)] += n
            if send is not None:
                by_send[(domain, send, name)] += n
    return _rows(by_send, by_hour, counts)


def _rows(by_send: Counter[tuple], by_hour: Counter[tuple], counts: Counter[CountKey]) -> Counter[CountKey]:
    """Counter rows of counts folded by send and by (hour, provider, tags)."""
    for (domain, send, name), n in by_send.items():
        counts[(domain, SEND, send, 0, name)] += n
    hourly: Counter[CountKey] = Counter()
    for (domain, hour, provider, tags, name), n in by_hour.items():
        hourly[(domain, DOMAIN, "", hour, name)] += n
        hourly[(domain, PROVIDER, provider, hour, name)] += n
        for tag in _tags(tags):
            hourly[(domain, TAG, tag, hour, name)] += n
    for (domain, dimension, value, hour, name), n in hourly.items():
        day = hour - hour % DAY
        counts[(domain, dimension, value, hour, name)] += n
        counts[(domain, DAILY[dimension], value, day, name)] += n
        counts[(domain, MONTHLY[dimension], value, month_start(day), name)] += n
    return counts
