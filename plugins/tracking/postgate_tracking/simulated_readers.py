"""Pretend readers for the outbox: a share of delivered recipients open and click for real.

With ``[plugins.tracking] simulate_readers`` set and the ``outbox`` delivery backend, every
``delivered`` event draws a reader for its recipient: Apple Mail with Mail Privacy Protection
(Apple's proxy fetches the pixel whether or not anyone reads), Gmail (opens through Google's image
proxy), or a person in Apple Mail, Outlook, iPhone Mail or Thunderbird. Readers who read fetch the
pixel of their own ``.eml`` after a delay, and some follow one tracked link later, each with the
user agent its client sends, through a real HTTP client against the real endpoints. So the whole
path, the machine rules and Ghost's open rate show on a laptop.

What it cannot show: the requests come from this machine, so rules that judge the network
(Apple's 17.0.0.0/8, Microsoft's scanners) never fire; the proxies are recognised by their user
agents only, which is how the classifier tells them apart anyway. It is refused on any other
delivery backend (it would fetch the tracking links of real mail).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import logging
import random
import re
import weakref
from dataclasses import dataclass
from pathlib import Path

import httpx

from postgate import Event, Gateway

from .reader_settings import SimulateReaders
from .state import tracking_for

log = logging.getLogger("postgate.tracking.simulated_readers")

#: Apple's Mail Privacy Protection prefetch: a bare agent, as in Mailgun's documented apple-bot event.
APPLE_PROXY = "Mozilla/5.0"
#: Google's image proxy, as Gmail fetches every image.
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
#: People's mail clients (open) and the browser their clicks open in.
PEOPLE: dict[str, tuple[str, str]] = {
    "Apple Mail": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Safari/605.1.15"),
    "Outlook": (
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"),
    "iPhone Mail": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1"),
    "Thunderbird": (
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
}
#: Where Apple's and Gmail's readers click: their own browsers.
SAFARI = PEOPLE["Apple Mail"][1]
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")


@dataclass(frozen=True, slots=True)
class ReaderPlan:
    """What one recipient's reader does; ``None`` agents do nothing."""

    client: str  # "apple-mpp", "gmail" or a key of PEOPLE
    open_agent: str | None
    open_after: float  # seconds after delivery
    click_agent: str | None
    click_after: float  # seconds after the open
    link_choice: float  # in [0, 1): which tracked link, scaled by their number


def plan_reader(config: SimulateReaders, address: str) -> ReaderPlan:
    """The reader of ``address``: drawn from the seed and the address when a seed is set."""
    rng = random.Random(f"{config.seed}:{address.lower()}") if config.seed is not None else random.Random()
    kind, reads, draws_click = rng.random(), rng.random(), rng.random()
    open_after = rng.uniform(*config.delay_seconds)
    click_after = rng.uniform(*config.click_delay_seconds)
    link_choice = rng.random()
    person = rng.choice(sorted(PEOPLE))
    reading = reads < config.open_share
    clicking = reading and config.open_share > 0 and draws_click < config.click_share / config.open_share
    if kind < config.apple_share:
        client, open_agent, browser = "apple-mpp", APPLE_PROXY, SAFARI  # prefetched: read or not
    elif kind < config.apple_share + config.gmail_share:
        client, open_agent, browser = "gmail", GMAIL_PROXY if reading else None, CHROME
    else:
        client, browser = person, PEOPLE[person][1]
        open_agent = PEOPLE[person][0] if reading else None
    return ReaderPlan(client, open_agent, open_after, browser if clicking else None, click_after, link_choice)


_TRACKING_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def tracking_urls(path: Path, base_url: str) -> tuple[str | None, list[str]]:
    """The pixel and tracked links in an ``.eml``'s HTML part (blocking: run it in a thread)."""
    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    part = mail.get_body(preferencelist=("html",))
    if part is None:
        return None, []
    pixel, links = None, []
    for raw in _TRACKING_URL.findall(part.get_content()):
        url = html.unescape(raw)
        if url.startswith(f"{base_url}/t/o/"):
            pixel = url
        elif url.startswith(f"{base_url}/t/c/") and url not in links:
            links.append(url)
    return pixel, links


class SimulatedReaders:
    """The readers of one gateway: a task per planned reader, requests bounded by a semaphore."""

    def __init__(self, gateway: Gateway, config: SimulateReaders) -> None:
        self.gateway = gateway
        self.config = config
        self.tasks: set[asyncio.Task[None]] = set()
        self.skipped = 0
        self.failures = 0
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(config.concurrency)

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=10.0, follow_redirects=False)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def delivered(self, events: list[Event]) -> None:
        """Plan a reader for each delivery and let it act later."""
        for event in events:
            if event.event != "delivered" or not event.recipient or not (event.key or "").startswith("delivered:"):
                continue
            plan = plan_reader(self.config, event.recipient)
            if plan.open_agent is None and plan.click_agent is None:
                continue
            if len(self.tasks) >= self.config.pending_limit:
                self.skipped += 1
                if self.skipped == 1:
                    log.warning("simulated readers: %d readers already waiting; further deliveries are "
                                "not simulated (pending_limit)", len(self.tasks))
                continue
            recipient_id = int(event.key.rpartition(":")[2])
            task = asyncio.create_task(self._read(event.domain, recipient_id, plan))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _read(self, domain: str, recipient_id: int, plan: ReaderPlan) -> None:
        await asyncio.sleep(plan.open_after)
        base_url = tracking_for(self.gateway).settings.for_domain(domain).base_url
        if not base_url:
            return
        path = self.gateway.delivery.path(domain, recipient_id)
        try:
            pixel, links = await asyncio.to_thread(tracking_urls, path, base_url)
        except OSError as exc:
            log.warning("simulated readers: cannot read %s: %s", path, exc)
            return
        if plan.open_agent is not None and pixel is not None:
            await self._fetch(pixel, base_url, plan.open_agent)
        if plan.click_agent is not None and links:
            await asyncio.sleep(plan.click_after)
            link = links[min(int(plan.link_choice * len(links)), len(links) - 1)]
            await self._fetch(link, base_url, plan.click_agent)

    async def _fetch(self, url: str, base_url: str, user_agent: str) -> None:
        if self.config.fetch_origin:
            url = self.config.fetch_origin + url[len(base_url):]
        assert self._client is not None
        async with self._slots:
            try:
                answer = await self._client.get(url, headers={"User-Agent": user_agent})
            except httpx.HTTPError as exc:
                self._failed(f"GET {url.split('/t/')[0]} failed: {exc or type(exc).__name__}")
                return
        if answer.status_code not in (200, 302):
            self._failed(f"GET {url.split('/t/')[0]} answered {answer.status_code}")

    def _failed(self, what: str) -> None:
        """Log the first failed request and every hundredth after it (an unreachable host fails them all)."""
        self.failures += 1
        if self.failures % 100 == 1:
            log.warning("simulated readers: %s (%d failed so far; is fetch_origin right?)", what, self.failures)


_READERS: weakref.WeakKeyDictionary[Gateway, SimulatedReaders] = weakref.WeakKeyDictionary()


def simulated_readers_for(gateway: Gateway) -> SimulatedReaders | None:
    """The gateway's running readers, or ``None`` when the simulator is off or refused."""
    return _READERS.get(gateway)


async def start(gateway: Gateway) -> None:
    """Start the readers when ``simulate_readers`` is set and the delivery backend is the outbox."""
    config = tracking_for(gateway).settings.simulate_readers
    if config is None:
        return
    if gateway.delivery.name != "outbox":
        log.warning("[plugins.tracking] simulate_readers is ignored: the delivery backend is %r, and "
                    "pretend readers run only with the outbox (they would fetch the tracking links of "
                    "real mail)", gateway.delivery.name)
        return
    readers = SimulatedReaders(gateway, config)
    await readers.start()
    _READERS[gateway] = readers
    log.info("simulated readers on: open %.0f%%, click %.0f%%, Apple MPP %.0f%%, Gmail %.0f%% of "
             "delivered recipients", 100 * config.open_share, 100 * config.click_share,
             100 * config.apple_share, 100 * config.gmail_share)


async def stop(gateway: Gateway) -> None:
    """Cancel the readers still waiting and close their HTTP client."""
    readers = _READERS.pop(gateway, None)
    if readers is not None:
        await readers.stop()


def delivered(gateway: Gateway, events: list[Event]) -> None:
    """Hand newly recorded events to the gateway's readers, if any run."""
    readers = _READERS.get(gateway)
    if readers is not None:
        readers.delivered(events)
