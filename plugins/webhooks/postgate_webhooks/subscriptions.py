"""The webhook URLs of each domain: reading and changing them, and a per-process copy for the
write path (so recording events costs no extra read while the copy is fresh)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from .models import Subscription
from .names import WEBHOOK_NAMES

Urls = dict[str, list[str]]


async def webhooks_of(domain: str) -> Urls:
    """``{webhook: [url, …]}`` for the webhooks of ``domain`` that have URLs, in Mailgun's order."""
    found: dict[str, list[str]] = defaultdict(list)
    for row in await Subscription.filter(domain=domain).order_by("webhook", "position", "id"):
        found[row.webhook].append(row.url)
    return {name: found[name] for name in WEBHOOK_NAMES if found.get(name)}


async def replace_urls(domain: str, webhook: str, urls: list[str]) -> None:
    """Make ``urls`` the webhook's URLs (none: the webhook is gone)."""
    await Subscription.filter(domain=domain, webhook=webhook).delete()
    now = time.time()
    if urls:
        await Subscription.bulk_create([Subscription(domain=domain, webhook=webhook, url=url, position=index,
                                                     created_at=now) for index, url in enumerate(urls)])


async def replace_all(domain: str, wanted: Urls, before: Urls) -> None:
    """Write the webhooks whose URLs differ between ``before`` and ``wanted``."""
    for name in WEBHOOK_NAMES:
        if wanted.get(name, []) != before.get(name, []):
            await replace_urls(domain, name, wanted.get(name, []))


class SubscriptionCopy:
    """Every domain's webhook URLs as this process last read them, read again once older than
    ``refresh`` seconds or after a change made here."""

    def __init__(self, refresh: float) -> None:
        self.refresh = refresh
        self._urls: dict[tuple[str, str], list[str]] = {}
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._read_at = float("-inf")

    async def urls(self) -> dict[tuple[str, str], list[str]]:
        """``{(domain, webhook): [url, …]}`` (call inside ``storage.orm()``)."""
        if time.monotonic() - self._read_at < self.refresh:
            return self._urls
        async with self._lock:
            if time.monotonic() - self._read_at >= self.refresh:
                started = time.monotonic()
                found: dict[tuple[str, str], list[str]] = defaultdict(list)
                for row in await Subscription.all().order_by("position", "id"):
                    found[(row.domain, row.webhook)].append(row.url)
                self._urls, self._read_at = dict(found), started
        return self._urls
