"""How Ghost 5.x walks ``GET /v3/{domain}/events``, ported to Python to replay it in tests.

Ghost (TryGhost/Ghost 5.130, ``EmailAnalyticsService``, ``EmailAnalyticsProviderMailgun``,
``MailgunClient``) keeps one cursor per job: the Date of the newest event it processed. Each run:

* ``begin`` is that cursor, or "now − 30 minutes" before the first event; ``end`` is "now − 1
  minute"; the run is skipped when ``end <= begin``.
* It asks for ``limit=300``, ``event=<types joined by " OR ">``, ``tags=bulk-email`` (``AND`` a
  configured site tag), ``begin``/``end`` as epoch seconds (a JS number: ``Date.getTime() / 1000``)
  and ``ascending=yes``; then follows ``paging.next`` (the token after its last ``/``, the first
  query sent again beside it) until a page is empty.
* Of each page it keeps only events whose ``new Date(timestamp * 1000)`` is not after the time
  the run began, and moves the cursor to the newest of them. It stops early once it has ``maxEvents``
  events and the last one is later than ``begin``.
* After a run that saw events, fewer than ``maxEvents``, without error, whose cursor is more than
  2 seconds old, the cursor moves on by one second (so it does not fetch the same events again):
  events stored later in the second it moved past are never fetched by this job.

:class:`GhostAnalytics` does the same against any ``get(path, params) -> JSON`` callable, with Ghost's
clock given as a callable returning epoch milliseconds (so a test can put Ghost's "1 minute ago"
where it wants relative to the gateway's clock). Every event it processes is kept in order in
:attr:`GhostJob.seen`.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from ..backends import Storage
from ..domain import Event

#: Ghost's constants (EmailAnalyticsService, EmailAnalyticsProviderMailgun).
TRUST_THRESHOLD_MS = 30 * 60 * 1000
FETCH_LATEST_END_MARGIN_MS = 60 * 1000
PAGE_LIMIT = 300
DEFAULT_TAGS = ("bulk-email",)
#: The jobs of ``EmailAnalyticsServiceWrapper.startFetch`` that read the latest events.
OPENED_EVENTS = ("opened",)
OTHER_EVENTS = ("delivered", "failed", "unsubscribed", "complained")

Get = Callable[[str, dict[str, str]], Awaitable[dict[str, Any]]]


def js_number(value: float) -> str:
    """``String(n)`` of a JS number in the range Ghost sends (integers print without ``.0``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def js_date_ms(timestamp: float) -> int:
    """``new Date(timestamp * 1000).getTime()``: the product truncated to whole milliseconds."""
    return math.trunc(float(timestamp) * 1000)


@dataclass
class SeenEvent:
    """What Ghost's ``normalizeEvent`` keeps of an event (the parts a replay needs)."""

    id: str
    type: str
    timestamp_ms: int
    recipient: str | None


@dataclass
class GhostJob:
    """One of Ghost's fetch jobs and its in-memory cursor (``fetchData.lastEventTimestamp``)."""

    name: str
    event_types: Sequence[str]
    last_event_ms: int | None = None
    seen: list[SeenEvent] = field(default_factory=list)
    runs: int = 0


class GhostAnalytics:
    """Ghost's "latest opened" and "latest others" jobs against one domain."""

    def __init__(self, get: Get, domain: str, now_ms: Callable[[], int], *, site_tag: str | None = None,
                 max_events: float = math.inf) -> None:
        self.get = get
        self.domain = domain
        self.now_ms = now_ms
        self.tags = " AND ".join([*DEFAULT_TAGS, *([site_tag] if site_tag else [])])
        self.max_events = max_events
        self.opened = GhostJob("email-analytics-latest-opened", OPENED_EVENTS)
        self.others = GhostJob("email-analytics-latest-others", OTHER_EVENTS)

    async def start_fetch(self) -> int:
        """One scheduled run: opened events first, then the others (as ``startFetch`` does)."""
        return await self.fetch_latest(self.opened) + await self.fetch_latest(self.others)

    async def fetch_latest(self, job: GhostJob) -> int:
        """``fetchLatestOpenedEvents`` / ``fetchLatestNonOpenedEvents``: returns the event count."""
        # Ghost's database fallback (the jobs table) holds what this object keeps in memory.
        begin = job.last_event_ms if job.last_event_ms is not None else self.now_ms() - TRUST_THRESHOLD_MS
        end = self.now_ms() - FETCH_LATEST_END_MARGIN_MS
        if end <= begin:
            return 0
        job.runs += 1
        count = await self._fetch_events(job, begin, end)
        if 0 < count < self.max_events and job.last_event_ms is not None \
                and job.last_event_ms < self.now_ms() - 2000:
            job.last_event_ms += 1000
        return count

    async def _fetch_events(self, job: GhostJob, begin_ms: int, end_ms: int) -> int:
        """``MailgunClient.fetchEvents`` with ``EmailAnalyticsService``'s batch handler."""
        options = {
            "limit": str(PAGE_LIMIT),
            "event": " OR ".join(job.event_types),
            "tags": self.tags,
            "begin": js_number(begin_ms / 1000),
            "end": js_number(end_ms / 1000),
            "ascending": "yes",
        }
        started_ms = self.now_ms()
        begin_floor_ms = math.ceil(float(options["begin"]) * 1000)
        page = await self.get(f"/v3/{self.domain}/events", options)
        events = self._kept(page, started_ms)
        count = 0
        while events:
            for event in events:  # processEventBatch
                job.seen.append(event)
                if job.last_event_ms is None or event.timestamp_ms > job.last_event_ms:
                    job.last_event_ms = event.timestamp_ms
            count += len(events)
            if count >= self.max_events and events[-1].timestamp_ms > begin_floor_ms:
                break
            # mailgun.js puts the page token in the path and sends the first query beside it.
            token = page["paging"]["next"].rsplit("/", 1)[1]
            page = await self.get(f"/v3/{self.domain}/events/{token}", dict(options))
            events = self._kept(page, started_ms)
        return count

    @staticmethod
    def _kept(page: dict[str, Any], started_ms: int) -> list[SeenEvent]:
        kept = []
        for item in page.get("items") or []:
            event = SeenEvent(id=item["id"], type=item["event"], timestamp_ms=js_date_ms(item["timestamp"]),
                              recipient=item.get("recipient"))
            if event.timestamp_ms <= started_ms:
                kept.append(event)
        return kept


# -- a replay: writers recording events while Ghost polls -----------------------------------------


def ghost_event(domain: str, kind: str, serial: str, tags: Sequence[str] = ("bulk-email",)) -> Event:
    """An event the way Postgate records one for a Ghost newsletter."""
    recipient = f"member{serial}@example.org"
    message_id = f"20260101.{serial}@{domain}"
    payload: dict[str, Any] = {
        "recipient": recipient, "recipient-domain": "example.org", "tags": list(tags),
        "user-variables": {"email-id": "6740a1b2c3d4e5f6a7b8c9d0"},
        "message": {"headers": {"message-id": message_id}},
    }
    severity = "permanent" if kind == "failed" else None
    return Event(domain=domain, event=kind, recipient=recipient, message_id=message_id, payload=payload,
                 key=f"{kind}:{serial}", email_id="6740a1b2c3d4e5f6a7b8c9d0", tags=list(tags),
                 severity=severity)


def linger_before_commit(storage: Storage, delay: Callable[[], float]) -> None:
    """Make each of ``storage``'s write transactions wait ``delay()`` seconds between its last
    statement and its commit: a slow writer, its events stamped long before they are visible."""
    session = storage.session  # type: ignore[attr-defined]

    @asynccontextmanager
    async def lingering(write: bool = False) -> AsyncIterator[Any]:
        async with session(write) as db:
            yield db
            if write:
                await asyncio.sleep(delay())

    storage.session = lingering  # type: ignore[attr-defined]


@dataclass
class Replay:
    """What a replay stored and what Ghost's jobs fetched of it."""

    stored: list[Event]
    ghost: GhostAnalytics

    def expected(self, job: GhostJob) -> set[str]:
        return {e.event_id for e in self.stored if e.event in job.event_types and "bulk-email" in e.tags}

    def problems(self) -> list[str]:
        """Every event missed or fetched twice, per job (empty when each came exactly once)."""
        out = []
        for job in (self.ghost.opened, self.ghost.others):
            counts = Counter(e.id for e in job.seen)
            expected = self.expected(job)
            missed = sorted(expected - set(counts))
            twice = sorted(i for i, n in counts.items() if n > 1)
            strangers = sorted(set(counts) - expected)
            for label, ids in (("missed", missed), ("fetched more than once", twice), ("not asked for", strangers)):
                if ids:
                    out.append(f"{job.name}: {len(ids)} of {len(expected)} {label}: {ids[:5]}")
        return out


async def replay_while_writing(get: Get, domain: str, writers: Sequence[Storage], *, seconds: float,
                               ghost_lag: float, seed: int, clock: Callable[[], float] = time.time,
                               min_events: int = 0) -> Replay:
    """Writers record bursts of events for ``seconds`` while Ghost's jobs poll; then Ghost runs on
    until its ``end`` has passed every stored event by more than a second.

    ``ghost_lag`` is where Ghost's "1 minute ago" falls behind the gateway's clock (Ghost's clock is
    set ahead by ``60 - ghost_lag`` seconds); negative puts Ghost's ``end`` in the gateway's future.
    Writer bursts come at random fractions of a second, just before and just after whole seconds,
    and back to back. They go on past ``seconds`` until ``min_events`` are stored (a loaded
    machine writes fewer in the time).
    """
    rng = random.Random(seed)
    ghost = GhostAnalytics(get, domain, lambda: int((clock() + 60 - ghost_lag) * 1000))
    stored: list[Event] = []
    deadline = clock() + seconds
    serials = iter(range(10**9))

    async def write(storage: Storage, index: int) -> None:
        mine = random.Random(rng.random())
        while clock() < deadline or len(stored) < min_events:
            pause = mine.choice(["random", "before", "after", "none"])
            now = clock()
            if pause == "random":
                await asyncio.sleep(mine.uniform(0, 0.15))
            elif pause != "none":
                edge = math.floor(now) + 1 + (-1 if pause == "before" else 1) * mine.uniform(0, 0.004)
                await asyncio.sleep(max(0.0, edge - now))
            burst = [
                ghost_event(domain, mine.choice(["delivered", "delivered", "failed", "opened", "accepted",
                                                 "unsubscribed", "complained"]),
                            f"{index}.{next(serials)}",
                            ("bulk-email",) if mine.random() < 0.9 else ("other",))
                for _ in range(mine.choice([1, 1, 2, 5, 20]))
            ]
            stored.extend(await storage.save_events(burst))

    async def poll(until: Callable[[], bool]) -> None:
        while not until():
            await ghost.start_fetch()
            await asyncio.sleep(rng.uniform(0, 0.2))

    writing = [asyncio.create_task(write(s, i)) for i, s in enumerate(writers)]
    polling = asyncio.create_task(poll(lambda: all(t.done() for t in writing)))
    await asyncio.gather(*writing)
    await polling
    last = max((e.recorded_at or 0 for e in stored), default=0) / 1_000_000
    await poll(lambda: clock() > last + 1.5 + max(ghost_lag, 0.0))
    await ghost.start_fetch()
    return Replay(stored, ghost)
