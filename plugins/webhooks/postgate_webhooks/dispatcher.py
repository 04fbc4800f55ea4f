"""The delivery loop: lease due deliveries, POST them through a bounded pool, settle results.

One loop per process (``startup``/``shutdown`` hooks). Each turn it writes the results of the
POSTs that finished (one batch), then leases as many due deliveries as it has room for, leaving
out URLs whose circuit is open or which already hold twice ``per_url_connections`` deliveries;
at most ``per_url_connections`` POSTs go to one URL at a time, so a dead or slow endpoint holds
at most its own share of the pool. Recording new deliveries
wakes the loop at once; otherwise it looks every ``poll_seconds`` (other processes enqueue too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from typing import Any

import aiohttp

from . import queue
from .breaker import Breakers
from .models import Delivery
from .poster import Answer, PinnedResolver, body_for, new_session, post
from .settings import WebhooksSettings
from .signing import account_of, keys_of
from .targets import TargetRefused, resolve_target

log = logging.getLogger("postgate.webhooks")

#: Seconds between purges of finished deliveries.
PURGE_EVERY = 600.0
#: Seconds the loop waits for POSTs in flight when stopping.
STOP_GRACE = 5.0
#: Seconds a woken loop lets more POSTs finish, so one turn settles a group of them.
GATHER = 0.01
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
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._per_url: Counter[str] = Counter()  # deliveries held: in flight or waiting
        self._url_slots: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._done: list[queue.Outcome] = []
        self._unused: list[Delivery] = []
        self._defer: dict[str, float] = {}
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._resolver = PinnedResolver()
        self._purged_at = 0.0
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
                    if self._tasks:
                        await asyncio.sleep(GATHER)
            await self._drain()

    async def _turn(self) -> bool:
        """Settle, then lease and start POSTs; ``True`` when a full batch was leased."""
        now = time.time()
        with self.gateway.storage.orm():
            await self._write_results(now)
            room = self.settings.max_connections * 2 - len(self._tasks)
            if room <= 0 or self._stopping or (self._tasks and room < self._claim_floor):
                return False  # with POSTs in flight, wait until a worthwhile batch fits
            limit = min(room, self.settings.claim_batch)
            leased = await queue.claim(now, limit, self.settings.lease_seconds, self._busy_urls(now))
            started, unused = self._fit(leased, now)
            if unused:
                await queue.release(unused)
            keys = await keys_of({self._account(d.domain) for d in started}) if started else {}
            if now - self._purged_at > PURGE_EVERY:
                self._purged_at = now
                await queue.purge(now - self.settings.keep_days * 86400)
        for delivery in started:
            task = asyncio.create_task(self._attempt(delivery, keys[self._account(delivery.domain)]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(leased) == limit

    async def _write_results(self, now: float) -> None:
        done, self._done = self._done, []
        unused, self._unused = self._unused, []
        defer, self._defer = self._defer, {}
        try:
            await queue.settle(done)
            await queue.release(unused)
            for url, until in defer.items():
                await queue.defer_url(url, until, now, now - self.give_up_after)
        except BaseException:
            self._done[:0], self._unused[:0] = done, unused
            self._defer = {**defer, **self._defer}
            raise

    def _held_cap(self) -> int:
        return self.settings.per_url_connections * HELD_PER_CONNECTION

    def _busy_urls(self, now: float) -> list[str]:
        cap = self._held_cap()
        full = [url for url, count in self._per_url.items() if count >= cap]
        trial = [url for url, count in self._per_url.items() if count and self.breakers.on_trial(url, now)]
        return sorted({*full, *trial, *self.breakers.open_urls(now)})

    def _fit(self, leased: list[Delivery], now: float) -> tuple[list[Delivery], list[Delivery]]:
        """Split leased deliveries into those to start now and those over a URL's share."""
        started, unused = [], []
        for delivery in leased:
            url = delivery.url
            cap = 1 if self.breakers.on_trial(url, now) else self._held_cap()
            if self._per_url[url] >= cap or self.breakers.is_open(url, now):
                unused.append(delivery)
                continue
            self._per_url[url] += 1
            started.append(delivery)
        return started, unused

    def _account(self, domain: str) -> str:
        return account_of(self.gateway.domains, domain)

    # -- one POST -----------------------------------------------------------------------------

    async def _attempt(self, delivery: Delivery, key: str) -> None:
        outcome: queue.Outcome | None = None
        url_slots = self._url_slots.get(delivery.url)
        if url_slots is None:
            url_slots = self._url_slots[delivery.url] = asyncio.Semaphore(self.settings.per_url_connections)
        try:
            async with url_slots, self._slots:
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
            self._per_url[delivery.url] -= 1
            if self._per_url[delivery.url] <= 0:
                del self._per_url[delivery.url]
                self._url_slots.pop(delivery.url, None)
            if outcome is not None:
                self._done.append(outcome)
            self._wake.set()

    async def _post(self, delivery: Delivery, key: str) -> queue.Outcome:
        assert self._session is not None
        try:
            target = await resolve_target(delivery.url, self.settings.allow_private_targets)
        except TargetRefused as exc:
            return queue.Outcome(delivery, time.time(), None, "refused", str(exc))
        except (OSError, UnicodeError) as exc:
            answer = Answer(None, f"cannot resolve the host: {exc}")
        else:
            self._resolver.pin(target)
            answer = await post(self._session, target, body_for(key, delivery.event_data, time.time()))
        return self._judge(delivery, answer, time.time())

    def _judge(self, delivery: Delivery, answer: Answer, now: float) -> queue.Outcome:
        """Mailgun's rules: 2xx delivered, 406 rejected for good, anything else retried on the
        schedule until it runs out."""
        url = delivery.url
        if answer.ok or answer.status == 406:
            self.breakers.succeeded(url)
            outcome = "delivered" if answer.ok else "rejected"
            return queue.Outcome(delivery, now, answer.status, outcome, answer.error)
        opened_until = self.breakers.failed(url, now)
        if opened_until is not None:
            self._defer[url] = opened_until
        schedule = self.settings.retry_schedule
        if delivery.attempts < len(schedule):
            return queue.Outcome(delivery, now, answer.status, "retry", answer.error,
                                 next_at=now + schedule[delivery.attempts])
        return queue.Outcome(delivery, now, answer.status, "failed", answer.error)

    # -- stopping -----------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Let POSTs in flight finish for a moment, give back the rest, write what is known."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=STOP_GRACE)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            with self.gateway.storage.orm():
                await self._write_results(time.time())
        except Exception:  # noqa: BLE001 - leases expire; the deliveries are taken again later
            log.exception("could not write the last webhook results; they will be retried")
