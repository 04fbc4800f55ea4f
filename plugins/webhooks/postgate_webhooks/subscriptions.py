"""The webhook URLs of each domain: reading and changing them, and a per-process copy for the
write path (so recording events costs no extra read while the copy is fresh).

A change reads the domain's webhooks, decides, and writes them in one storage transaction that
no other change of the same domain can interleave with (on SQLite the write lock taken at
``BEGIN IMMEDIATE``; on MariaDB/MySQL a named lock per domain, then locking reads), so
concurrent API calls can neither merge their URLs past 3 nor lose one another's changes, and a
crash between the DELETE and the INSERT changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .models import Subscription
from .names import WEBHOOK_NAMES

Urls = dict[str, list[str]]

TABLE = "webhooks_subscriptions"
#: Seconds a change waits for another change of the same domain (MariaDB/MySQL) before failing.
LOCK_WAIT = 30


async def webhooks_of(domain: str) -> Urls:
    """``{webhook: [url, …]}`` for the webhooks of ``domain`` that have URLs, in Mailgun's order."""
    found: dict[str, list[str]] = defaultdict(list)
    for row in await Subscription.filter(domain=domain).order_by("webhook", "position", "id"):
        found[row.webhook].append(row.url)
    return {name: found[name] for name in WEBHOOK_NAMES if found.get(name)}


async def change(storage: Any, domain: str, decide: Callable[[Urls], Urls]) -> tuple[Urls, Urls]:
    """Give ``decide`` the domain's webhooks as they are (``{webhook: [url, …]}``, those with
    URLs) and write what it answers, atomically (see the module documentation); an exception
    from ``decide`` changes nothing. Returns ``(before, after)``."""
    mysql = storage.dialect != "sqlite"
    lock = "postgate-webhooks:" + hashlib.sha256(domain.encode()).hexdigest()[:40]  # names stop at 64
    async with storage.session(write=True) as db:
        if mysql:
            [[taken]] = await db.fetch("SELECT GET_LOCK(?, ?)", (lock, LOCK_WAIT))
            if taken != 1:
                raise RuntimeError(f"another change of the webhooks of {domain} took over {LOCK_WAIT} s")
        try:
            rows = await db.fetch(f"SELECT webhook, url FROM {TABLE} WHERE domain = ? ORDER BY webhook, position, id"
                                  f"{' FOR UPDATE' if mysql else ''}", (domain,))
            found: dict[str, list[str]] = defaultdict(list)
            for webhook, url in rows:
                found[webhook].append(url)
            before = {name: found[name] for name in WEBHOOK_NAMES if found.get(name)}
            wanted = decide({name: list(urls) for name, urls in before.items()})
            after = {name: list(wanted[name]) for name in WEBHOOK_NAMES if wanted.get(name)}
            now = time.time()
            for name in WEBHOOK_NAMES:
                if after.get(name, []) != before.get(name, []):
                    await db.execute(f"DELETE FROM {TABLE} WHERE domain = ? AND webhook = ?", (domain, name))
                    if after.get(name):
                        await db.executemany(
                            f"INSERT INTO {TABLE} (domain, webhook, url, position, created_at) VALUES (?, ?, ?, ?, ?)",
                            [(domain, name, url, index, now) for index, url in enumerate(after[name])])
        finally:
            if mysql:
                await db.fetch("SELECT RELEASE_LOCK(?)", (lock,))
    return before, after


async def replace_urls(storage: Any, domain: str, webhook: str, urls: list[str]) -> None:
    """Make ``urls`` the webhook's URLs (none: the webhook is gone)."""
    await change(storage, domain, lambda found: {**found, webhook: urls})


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
