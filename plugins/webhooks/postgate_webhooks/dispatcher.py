"""The delivery loop: lease due deliveries, POST them through a bounded pool, settle results.

One loop per process (``startup``/``shutdown`` hooks). Each turn is one storage transaction: it
writes the results of the POSTs that finished, then leases as many due deliveries as it has room
for, leaving out URLs whose circuit is open or which hold enough to keep their connections busy,
and never more than twice ``per_url_connections`` per URL. Leased deliveries wait per URL for a
*lane*: a task that holds one of the ``max_connections`` connections and POSTs its URL's
deliveries one after the other, at most ``per_url_connections`` lanes per URL, so a dead or slow
endpoint holds at most its own share of the pool. Recording new deliveries wakes the loop at
once; otherwise it looks every ``poll_seconds`` (other processes enqueue too). While POSTs are in
flight, turns come at most every :data:`TURN_EVERY` seconds, so each settles a group of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter, deque
from typing import Any

import aiohttp

from . import queue
from .breaker import Breakers
from .poster import Answer, PinnedResolver, body_for, new_session, post
from .settings import WebhooksSettings
from .queue import Due
from .signing import account_of, signing_key
from .targets import TargetRefused, resolve_target

log = logging.getLogger("postgate.webhooks")

#: Seconds between purges of finished deliveries.
PURGE_EVERY = 600.0
#: Seconds the loop waits for POSTs in flight when stopping.
STOP_GRACE = 5.0
#: Fewest seconds between two turns while POSTs are in flight, so one turn (one transaction)
#: settles a group of them and leases the next.
TURN_EVERY = 0.025
#: Seconds the loop trusts its copy of the signing keys (a rotation made in this process applies
#: at once, one made elsewhere within this time).
KEYS_FRESH = 1.0
#: Deliveries held per URL (in flight or waiting for one of its connections), per connection.
HELD_PER_CONNECTION = 2


class Dispatcher:
    """The delivery loop of one gateway."""

    def __init__(self, gateway: Any, settings: WebhooksSettings) -> None:
        self.gateway = gateway
        self.settings = settings
        self.breakers = Breakers(settings.breaker_failures, settings.breaker_seconds)
        self.give_up_after = sum(settings.retry_schedule)
        self._wake = asyncio.Event()
        self._per_url: Counter[str] = Counter()  # deliveries held: in flight or waiting
        self._held_ids: set[int] = set()
        self._waiting: dict[str, deque[tuple[Due, str]]] = {}  # leased, not yet started, with its key
        self._lanes: Counter[str] = Counter()  # lanes (POSTing tasks) per URL
        self._starved = False  # a URL waits with no lane while every connection is taken
        self._tasks: set[asyncio.Task[None]] = set()  # the lanes
        self._done: list[queue.Outcome] = []
        self._unused: list[Due] = []
        self._defer: dict[str, float] = {}
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._resolver = PinnedResolver()
        self._purged_at = 0.0
        self._keys: dict[str, str] = {}  # account -> signing key, as last read
        self._keys_read_at = float("-inf")
        #: This process's name on the leases it takes.
        self._owner = uuid.uuid4().hex
        #: Fewest free places worth a claim while POSTs are in flight (one query for many).
        self._claim_floor = max(1, settings.max_connections // 4)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="postgate-webhooks")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        async with new_session(self.settings.max_connections, self.settings.timeout_seconds,
                               self._resolver) as session:
            self._session = session
            while not self._stopping:
                self._wake.clear()
                started = time.monotonic()
                try:
                    more = await self._turn()
                except Exception:  # noqa: BLE001 - storage hiccup: the loop must live on
                    log.exception("webhook delivery loop failed; trying again in 1 s")
                    more = False
                    await asyncio.sleep(1)
                if more:
                    continue
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
                if self._held_ids:  # POSTs in flight: let a group finish, so one turn settles them all
                    pause = started + TURN_EVERY - time.monotonic()
                    if pause > 0:
                        await asyncio.sleep(pause)
            await self._drain()

    async def _turn(self) -> bool:
        """Settle, then lease and start POSTs, in one transaction; ``True`` when a full batch was
        read (more may be due)."""
        now = time.time()
        done, self._done = self._done, []
        unused, self._unused = self._unused, []
        defer, self._defer = self._defer, {}
        room = self.settings.max_connections * HELD_PER_CONNECTION - len(self._held_ids)
        claiming = room > 0 and not self._stopping and (not self._held_ids or room >= self._claim_floor)
        if not (done or unused or defer or claiming):
            return False
        limit = min(room, self.settings.claim_batch)
        due: list[tuple[int, str]] = []
        leased: list[Due] = []
        accounts: dict[str, str] = {}
        storage = self.gateway.storage
        try:
            async with storage.session(write=True) as db:
                await queue.settle(db, done)
                await queue.release(db, unused, self._owner)
                for url, until in defer.items():
                    await queue.defer_url(db, url, until, now, now - self.give_up_after)
                if claiming:  # with POSTs in flight, only once a worthwhile batch fits
                    due = await queue.due_urls(db, now, limit, self._busy_urls(now), storage.lock_rows)
                    picked = self._pick(due, now, room)
                    if picked:
                        leased = await queue.lease(db, picked, self._owner, now + self.settings.lease_seconds)
                        accounts = {domain: self._account(domain) for domain in {d.domain for d in leased}}
                        await self._read_keys(db, set(accounts.values()), now)
        except BaseException:
            self._done[:0], self._unused[:0] = done, unused
            self._defer = {**defer, **self._defer}
            raise
        if leased:
            await self._start(leased, accounts)
        if now - self._purged_at > PURGE_EVERY:
            self._purged_at = now
            with storage.orm():
                await queue.purge(now - self.settings.keep_days * 86400)
        return bool(leased) and len(due) == self.settings.claim_batch  # not held back by room

    async def _read_keys(self, db: Any, accounts: set[str], now: float) -> None:
        """Read the signing keys of ``accounts`` when the copy is older than :data:`KEYS_FRESH`
        or lacks one of them."""
        if now - self._keys_read_at >= KEYS_FRESH:
            self._keys, self._keys_read_at = {}, now
        wanted = accounts - set(self._keys)
        if wanted:
            self._keys.update(await queue.signing_keys(db, sorted(wanted)))

    def forget_keys(self) -> None:
        """A key was rotated here: read the keys again before the next POSTs."""
        self._keys_read_at = float("-inf")

    async def _start(self, leased: list[Due], accounts: dict[str, str]) -> None:
        """Queue the leased deliveries per URL, each with its account's signing key, and start
        lanes for them."""
        missing = set(accounts.values()) - set(self._keys)
        if missing:  # made on first use (outside the transaction: tortoise has its own session)
            with self.gateway.storage.orm():
                self._keys.update({account: await signing_key(account) for account in sorted(missing)})
        for delivery in leased:
            self._per_url[delivery.url] += 1
            self._held_ids.add(delivery.id)
            self._waiting.setdefault(delivery.url, deque()).append((delivery, self._keys[accounts[delivery.domain]]))
        self._fill_lanes()

    def _held_cap(self) -> int:
        return self.settings.per_url_connections * HELD_PER_CONNECTION

    def _busy_urls(self, now: float) -> list[str]:
        """URLs not to read due deliveries of: open circuits, a trial under way, and URLs holding
        enough to keep their connections busy until the next turn."""
        enough = self.settings.per_url_connections
        busy = [url for url, count in self._per_url.items() if count >= enough
                or (count and self.breakers.on_trial(url, now))]
        return sorted({*busy, *self.breakers.open_urls(now)})

    def _pick(self, due: list[tuple[int, str]], now: float, room: int) -> list[int]:
        """The due deliveries to lease: up to ``room``, none over a URL's share (one for a URL on
        trial), none of an open circuit; the rest stay free for other workers."""
        picked: list[int] = []
        taken: Counter[str] = Counter()
        for delivery_id, url in due:
            if delivery_id in self._held_ids:  # its lease ran out while it waited here
                continue
            cap = 1 if self.breakers.on_trial(url, now) else self._held_cap()
            if self._per_url[url] + taken[url] >= cap or self.breakers.is_open(url, now):
                continue
            taken[url] += 1
            picked.append(delivery_id)
            if len(picked) >= room:
                break
        return picked

    def _account(self, domain: str) -> str:
        return account_of(self.gateway.domains, domain)

    # -- lanes: one task per connection in use, POSTing one URL's deliveries in turn ---------------

    def _fill_lanes(self) -> None:
        """Start lanes for waiting deliveries: at most ``per_url_connections`` per URL (one on
        trial), ``max_connections`` in all, URLs without a lane first."""
        if self._stopping:
            return
        now = time.time()
        per_url, total = self.settings.per_url_connections, self.settings.max_connections
        self._starved = False
        for url in sorted(self._waiting, key=self._lanes.__getitem__):
            waiting = self._waiting[url]
            allowed = 1 if self.breakers.on_trial(url, now) else per_url
            while waiting and self._lanes[url] < allowed and len(self._tasks) < total:
                self._lanes[url] += 1
                task = asyncio.create_task(self._lane(url, waiting.popleft()))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not waiting:
                del self._waiting[url]
            elif not self._lanes[url]:
                self._starved = True

    async def _lane(self, url: str, item: tuple[Due, str] | None) -> None:
        """POST ``url``'s waiting deliveries one after the other; a lane ends when none waits,
        when a URL without a lane needs its connection, or when the URL goes on trial."""
        try:
            while item is not None:
                await self._attempt(*item)
                item = self._next(url)
        finally:
            self._lanes[url] -= 1
            if self._lanes[url] <= 0:
                del self._lanes[url]
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
            self._fill_lanes()

    def _next(self, url: str) -> tuple[Due, str] | None:
        waiting = self._waiting.get(url)
        if not waiting or self._starved or self._stopping:
            return None
        if self._lanes[url] > 1 and self.breakers.on_trial(url, time.time()):
            return None
        item = waiting.popleft()
        if not waiting:
            del self._waiting[url]
        return item

    async def _attempt(self, delivery: Due, key: str) -> None:
        outcome: queue.Outcome | None = None
        try:
            if self.breakers.is_open(delivery.url, time.time()):
                self._unused.append(delivery)  # its circuit opened while it waited: held back
            else:
                outcome = await self._post(delivery, key)
        except asyncio.CancelledError:
            self._unused.append(delivery)  # stopping: the lease goes back, no attempt counted
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the delivery
            log.exception("webhook POST %s failed unexpectedly", delivery.id)
            outcome = self._judge(delivery, Answer(None, f"internal error: {type(exc).__name__}"), time.time())
        finally:
            self._let_go(delivery)
            if outcome is not None:
                self._done.append(outcome)
            self._wake.set()

    def _let_go(self, delivery: Due) -> None:
        self._held_ids.discard(delivery.id)
        self._per_url[delivery.url] -= 1
        if self._per_url[delivery.url] <= 0:
            del self._per_url[delivery.url]

    async def _post(self, delivery: Due, key: str) -> queue.Outcome:
        """Resolve and check the host, POST, judge; the attempt's duration runs from the start
        (the name resolution included) until the answer was read or the POST failed."""
        assert self._session is not None
        started = time.perf_counter()
        try:
            target = await resolve_target(delivery.url, self.settings.allow_private_targets)
        except TargetRefused as exc:  # no POST made: no duration
            return queue.Outcome(delivery, time.time(), None, "refused", str(exc))
        except (OSError, UnicodeError) as exc:
            answer = Answer(None, f"cannot resolve the host: {exc}")
        else:
            self._resolver.pin(target)
            answer = await post(self._session, target, body_for(key, delivery.event_data, time.time()))
        duration_ms = (time.perf_counter() - started) * 1000
        return self._judge(delivery, answer, time.time(), duration_ms)

    def _judge(self, delivery: Due, answer: Answer, now: float, duration_ms: float | None = None) -> queue.Outcome:
        """Mailgun's rules: 2xx delivered, 406 rejected for good, anything else retried on the
        schedule until it runs out."""
        url = delivery.url
        if answer.ok or answer.status == 406:
            self.breakers.succeeded(url)
            outcome = "delivered" if answer.ok else "rejected"
            return queue.Outcome(delivery, now, answer.status, outcome, answer.error, duration_ms=duration_ms)
        opened_until = self.breakers.failed(url, now)
        if opened_until is not None:
            self._defer[url] = opened_until
        schedule = self.settings.retry_schedule
        if delivery.attempts < len(schedule):
            return queue.Outcome(delivery, now, answer.status, "retry", answer.error,
                                 next_at=now + schedule[delivery.attempts], duration_ms=duration_ms)
        return queue.Outcome(delivery, now, answer.status, "failed", answer.error, duration_ms=duration_ms)

    # -- stopping -----------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Let POSTs in flight finish for a moment, give back the rest, write what is known."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=STOP_GRACE)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._stopping = True
        for waiting in self._waiting.values():  # leased, never started: the leases go back
            for delivery, _ in waiting:
                self._let_go(delivery)
                self._unused.append(delivery)
        self._waiting.clear()
        try:
            await self._turn()
        except Exception:  # noqa: BLE001 - leases expire; the deliveries are taken again later
            log.exception("could not write the last webhook results; they will be retried")
