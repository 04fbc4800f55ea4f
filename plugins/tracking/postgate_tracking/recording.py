"""Recording hits off the request path: an in-process buffer flushed in group commits.

A request only verifies its token, appends a :class:`Hit` and answers. A background task takes
up to ``flush_size`` hits every ``flush_seconds``, turns them into Mailgun ``opened``/``clicked``
events (through ``gateway.record_events``, so paging, suppression listeners and other plugins see
them) and raw ``tracking_hits`` rows, and only then counts them as stored. On shutdown the buffer
is flushed to the last hit. A failed flush puts its hits back; event keys are fixed per hit, so
a retry never stores an event twice, and retries back off up to ``RETRY_MAX_SECONDS``.

The buffer holds at most ``buffer_limit`` hits. While storage is down it fills up; a hit beyond
the limit is dropped (the request is answered all the same), counted in :attr:`Recorder.dropped`,
logged at most every ``LOG_EVERY_SECONDS``, and the plugin's readiness check fails while the
buffer is full.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from postgate import Batch, Event, EventBuilder, Gateway, Message, Recipient, batch_message

from .clients import ClientDescription, ClientSettings, describe_client
from .machines import MachineVerdict, classify_click, classify_open, visible
from .models import TrackedLink, TrackingHit
from .settings import TrackingSettings

log = logging.getLogger("postgate.tracking")

#: Batches (with their decoded message and links) kept in memory for hits and events.
BATCH_CACHE = 256


@dataclass(slots=True)
class Hit:
    """One counted GET of a pixel or a tracked link."""

    kind: str  # "open" or "click"
    batch_id: int
    recipient_id: int
    link: int | None
    user_agent: str
    ip: str
    rendered_at: float  # when the recipient's message was rendered, from the token
    at: float = field(default_factory=time.time)
    key: str = field(default_factory=lambda: secrets.token_hex(8))


#: Longest wait between retries of a failed flush, and between two log lines about the same trouble.
RETRY_MAX_SECONDS = 5.0
LOG_EVERY_SECONDS = 10.0

#: Clicks of one message this close together count as "at once" for the every-link rule.
CLICK_WINDOW_SECONDS = 5.0


def client_settings(settings: TrackingSettings) -> ClientSettings:
    return ClientSettings(ip_policy=settings.ip_policy, geoip_database=settings.geoip_database)


HIT_COLUMNS = ("at", "kind", "domain", "batch_id", "recipient_id", "link_index", "ip", "user_agent", "bot",
               "rule", "recorded")


async def insert_hits(rows: list[tuple[Any, ...]]) -> None:
    """One multi-row statement for a flush's hits (building a model object per hit costs more than
    the insert). Inside ``storage.orm()``; the two hosted dialects differ only in the placeholder."""
    db = TrackingHit._meta.db
    mark = "?" if db.capabilities.dialect == "sqlite" else "%s"
    sql = (f"INSERT INTO {TrackingHit._meta.db_table} ({', '.join(HIT_COLUMNS)}) "
           f"VALUES ({', '.join([mark] * len(HIT_COLUMNS))})")
    await db.execute_many(sql, [list(row) for row in rows])


@dataclass(slots=True)
class BatchInfo:
    batch: Batch
    message: Message
    events: EventBuilder
    links: dict[int, str] | None = None


class Recorder:
    """The buffer, the batch cache and the flusher of one gateway."""

    def __init__(self, gateway: Gateway, settings: TrackingSettings) -> None:
        self.gateway = gateway
        self.settings = settings
        self.buffer: deque[Hit] = deque()
        self.batches: OrderedDict[int, BatchInfo] = OrderedDict()
        self.clients = client_settings(settings)
        #: Recent clicks per ledger row: link index -> time, for the every-link-at-once rule.
        self.recent_clicks: dict[int, dict[int, float]] = {}
        self.stored = 0  # hits durably stored (rows and events committed)
        self.events = 0  # events those hits became
        self.dropped = 0  # hits refused because the buffer was full (storage down or too slow)
        self.failures = 0  # flushes failed in a row
        self._logged_drop = self._logged_failure = 0.0
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    # -- batches and links ----------------------------------------------------------------

    async def batch(self, batch_id: int) -> BatchInfo | None:
        info = self.batches.get(batch_id)
        if info is not None:
            self.batches.move_to_end(batch_id)
            return info
        batch = await self.gateway.storage.get_batch(batch_id)
        if batch is None:
            return None
        message = await asyncio.to_thread(batch_message, batch)
        info = BatchInfo(batch, message, EventBuilder(batch, message,
                                                      public_url=self.gateway.settings.gateway.public_url))
        self.batches[batch_id] = info
        while len(self.batches) > BATCH_CACHE:
            self.batches.popitem(last=False)
        return info

    def cached(self, batch_id: int) -> BatchInfo | None:
        """The batch if it is in the cache (no database read)."""
        info = self.batches.get(batch_id)
        if info is not None:
            self.batches.move_to_end(batch_id)
        return info

    async def link(self, info: BatchInfo, index: int) -> str | None:
        if info.links is None:
            with self.gateway.storage.orm():
                rows = await TrackedLink.filter(batch_id=info.batch.id).values_list("link_index", "url")
            info.links = dict(rows)
        return info.links.get(index)

    # -- the buffer -----------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        """Hits not yet stored: buffered, or taken by a flush that has not committed."""
        return len(self.buffer) + self._in_flight

    @property
    def full(self) -> bool:
        return self.waiting >= self.settings.buffer_limit

    def add(self, hit: Hit) -> bool:
        """Buffer ``hit``; ``False`` when the buffer is full and the hit is dropped (counted, logged)."""
        if self.full:
            self.dropped += 1
            now = time.monotonic()
            if now - self._logged_drop >= LOG_EVERY_SECONDS:
                self._logged_drop = now
                log.error("tracking: %d hits wait to be stored (buffer_limit); %d hits dropped so far",
                          self.waiting, self.dropped)
            return False
        self.buffer.append(hit)
        if len(self.buffer) >= self.settings.flush_size:
            self._wake.set()
        return True

    async def check(self) -> None:
        """The readiness probe: raises while the buffer is full (hits are being dropped)."""
        if self.full:
            raise RuntimeError(f"{self.waiting} hits wait to be stored and new hits are dropped "
                               f"({self.dropped} so far); is the database reachable?")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="postgate-tracking-flusher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        while self.buffer:
            if not await self.flush():
                log.error("tracking: %d hits could not be stored on shutdown", len(self.buffer))
                return

    async def _run(self) -> None:
        while True:
            wait = min(self.settings.flush_seconds * 2 ** self.failures, RETRY_MAX_SECONDS)
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass
            self._wake.clear()
            while self.buffer:
                if not await self.flush():
                    break

    async def flush(self) -> bool:
        """Store up to ``flush_size`` hits; ``False`` (hits put back) when storing failed."""
        async with self._lock:
            hits = [self.buffer.popleft() for _ in range(min(len(self.buffer), self.settings.flush_size))]
            if not hits:
                return True
            self._in_flight = len(hits)
            try:
                events, rows = await self._build(hits)
                if events:
                    await self.gateway.record_events(events)
                if rows:
                    with self.gateway.storage.orm():
                        await insert_hits(rows)
            except Exception:  # noqa: BLE001 - kept for the next flush
                self.buffer.extendleft(reversed(hits))
                self._in_flight = 0
                self.failures += 1
                self._log_failure()
                return False
            self._in_flight = 0
            self.failures = 0
            self.stored += len(hits)
            self.events += len(events)
            return True

    def _log_failure(self) -> None:
        """The first failure of a run with its traceback, then a line at most every ``LOG_EVERY_SECONDS``."""
        now = time.monotonic()
        if self.failures == 1:
            log.exception("tracking: storing hits failed; %d wait, retrying", self.waiting)
        elif now - self._logged_failure >= LOG_EVERY_SECONDS:
            log.error("tracking: storing hits still fails (%d attempts); %d wait, %d dropped",
                      self.failures, self.waiting, self.dropped)
        else:
            return
        self._logged_failure = now

    async def _build(self, hits: list[Hit]) -> tuple[list[Event], list[tuple[Any, ...]]]:
        found = await self.gateway.storage.get_recipients(sorted({hit.recipient_id for hit in hits}))
        recipients = {row.id: row for row in found}
        events: list[Event] = []
        rows: list[tuple[Any, ...]] = []
        for hit in hits:
            recipient = recipients.get(hit.recipient_id)
            info = await self.batch(hit.batch_id) if recipient is not None else None
            if recipient is None or info is None or recipient.batch_id != hit.batch_id:
                continue  # purged since the mail went out: nothing to record against
            domain = info.batch.domain
            policy = self.settings.for_domain(domain).machines
            url = await self.link(info, hit.link) if hit.link is not None else None
            verdict = self._judge(hit, info)
            client = describe_client(hit.user_agent, hit.ip, self.clients)
            recorded = visible(verdict, policy or "drop-scanners", hit.kind)
            if recorded:
                events.append(self._event(info, recipient, hit, verdict, client, url))
            rows.append((hit.at, hit.kind, domain, hit.batch_id, hit.recipient_id, hit.link, client.ip,
                         hit.user_agent[:512], verdict.bot, verdict.rule[:64], recorded))
        return events, rows

    def _judge(self, hit: Hit, info: BatchInfo) -> MachineVerdict:
        """The machine rules for one hit (hits reach here in the order they came)."""
        since = hit.at - hit.rendered_at if hit.rendered_at else None
        if hit.kind == "open":
            return classify_open(hit.user_agent, hit.ip, "GET", since)
        clicks = self.recent_clicks.setdefault(hit.recipient_id, {})
        for link, at in list(clicks.items()):
            if hit.at - at > CLICK_WINDOW_SECONDS:
                del clicks[link]
        clicks[hit.link or 0] = hit.at
        if len(self.recent_clicks) > 10_000:  # forget the rows that clicked longest ago
            for row in list(self.recent_clicks)[:5_000]:
                del self.recent_clicks[row]
        return classify_click(hit.user_agent, hit.ip, "GET", since, len(clicks), len(info.links or {}))

    @staticmethod
    def _event(info: BatchInfo, recipient: Recipient, hit: Hit, verdict: MachineVerdict,
               client: ClientDescription, url: str | None) -> Event:
        client_info: dict[str, Any] = {**client.client_info, "bot": verdict.bot}
        common = {"ip": client.ip or "", "user_agent": hit.user_agent, "geolocation": client.geolocation,
                  "client_info": client_info}
        if hit.kind == "click":
            event = info.events.clicked(recipient, url=url or "", key=f"clicked:{recipient.id}:{hit.key}", **common)
        else:
            event = info.events.opened(recipient, key=f"opened:{recipient.id}:{hit.key}", **common)
        if client.ip is None:
            event.payload.pop("ip", None)
        if client.geolocation is None:
            event.payload.pop("geolocation", None)
        if verdict.rule:
            event.payload["machine-rule"] = verdict.rule
        return event
