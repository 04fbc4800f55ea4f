"""Recipient domains hosted by a mailbox provider under their own name, from cached MX look-ups.

The roll-up task asks :meth:`MxDirectory.hosted` for the domains of a batch of events before it
adds them up, so look-ups happen off the recording path: recording an event never waits for DNS.
A domain is looked up once, then kept in memory and in ``dashboard_mx`` (shared by every process)
for ``mx_ttl_seconds``; a failed look-up, or one that found no known provider, for
``mx_negative_ttl_seconds``. At most ``mx_concurrency`` look-ups run at once, each bounded by
``mx_timeout_seconds``. A domain whose look-up failed counts as ``other`` until it is tried again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterable
from typing import Any

import dns.asyncresolver
from tortoise.transactions import in_transaction

from .models import MxRecord
from .mx_resolver import MxAnswer, askable, lookup_mx, make_resolver
from .providers import OTHER, provider_of, provider_of_mx
from .writer import Dialect

log = logging.getLogger("postgate.dashboard")

#: Domains kept in memory per process (the table keeps them all).
MAX_IN_MEMORY = 100_000
#: Characters of the MX host list kept for showing.
MAX_HOSTS_TEXT = 512
#: Domains read from or written to the table per statement.
PER_STATEMENT = 400

MX_COLUMNS = "domain, provider, hosts, failed, checked_at, expires_at"


class MxDirectory:
    """One gateway's cache of MX-derived providers (see the module doc)."""

    def __init__(self, gateway: Any, settings: Any) -> None:
        self.gateway = weakref.ref(gateway)
        self.settings = settings
        self.known: dict[str, tuple[str, float]] = {}  # domain -> (provider, expires at)
        self.slots = asyncio.Semaphore(settings.mx_concurrency)
        self._resolver: dns.asyncresolver.Resolver | None = None
        self.lookups = 0  # look-ups made by this process (tests and logs read it)

    def resolver(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            self._resolver = make_resolver(self.settings.mx_nameservers, self.settings.mx_timeout_seconds)
        return self._resolver

    async def hosted(self, domains: Iterable[str]) -> dict[str, str]:
        """Of ``domains``, those an MX look-up found hosted by a known provider, with it. Domains
        the name rules already place, and names not worth asking about, are left out."""
        now = time.time()
        wanted = {d for d in {str(d).lower() for d in domains} if askable(d) and provider_of(d) == OTHER}
        missing = [d for d in wanted if self.known.get(d, ("", 0.0))[1] <= now]
        if missing:
            await self._load(missing, now)
            missing = [d for d in missing if self.known.get(d, ("", 0.0))[1] <= now]
        if missing:
            await self._look_up(missing)
        return {d: p for d in wanted if (p := self.known.get(d, (OTHER, 0.0))[0]) != OTHER}

    def _remember(self, domain: str, provider: str, expires_at: float) -> None:
        if len(self.known) >= MAX_IN_MEMORY and domain not in self.known:
            self.known.clear()
        self.known[domain] = (provider, expires_at)

    async def _load(self, domains: list[str], now: float) -> None:
        gateway = self.gateway()
        if gateway is None:
            return
        with gateway.storage.orm():
            for start in range(0, len(domains), PER_STATEMENT):
                rows = await MxRecord.filter(domain__in=domains[start:start + PER_STATEMENT],
                                             expires_at__gt=int(now)).values_list("domain", "provider", "expires_at")
                for domain, provider, expires_at in rows:
                    self._remember(domain, provider, float(expires_at))

    async def _look_up(self, domains: list[str]) -> None:
        answers = await asyncio.gather(*(self._one(d) for d in sorted(domains)))
        now = int(time.time())
        rows = []
        for domain, answer in zip(sorted(domains), answers, strict=True):
            provider = OTHER if answer.failed else provider_of_mx(list(answer.hosts))
            negative = answer.failed or provider == OTHER
            ttl = self.settings.mx_negative_ttl_seconds if negative else self.settings.mx_ttl_seconds
            self._remember(domain, provider, now + ttl)
            rows.append((domain, provider, ",".join(answer.hosts)[:MAX_HOSTS_TEXT], answer.failed, now, now + ttl))
        failed = sum(1 for a in answers if a.failed)
        if failed:
            log.info("dashboard: %d of %d MX look-ups got no answer; those domains count as other "
                     "for %d s", failed, len(answers), self.settings.mx_negative_ttl_seconds)
        await self._store(rows)

    async def _one(self, domain: str) -> MxAnswer:
        async with self.slots:
            self.lookups += 1
            return await lookup_mx(self.resolver(), domain)

    async def _store(self, rows: list[tuple[Any, ...]]) -> None:
        gateway = self.gateway()
        if gateway is None or not rows:
            return
        with gateway.storage.orm():
            async with in_transaction() as db:
                dialect = Dialect(db.capabilities.dialect)
                for start in range(0, len(rows), PER_STATEMENT):
                    part = rows[start:start + PER_STATEMENT]
                    await db.execute_query(dialect.upsert(
                        "dashboard_mx", MX_COLUMNS, len(part), "domain",
                        ("provider", "hosts", "failed", "checked_at", "expires_at")), [v for row in part for v in row])


_directories: weakref.WeakKeyDictionary[Any, MxDirectory] = weakref.WeakKeyDictionary()


def directory_of(gateway: Any) -> MxDirectory | None:
    """The gateway's MX directory, ``None`` when ``mx_lookups`` is off."""
    directory = _directories.get(gateway)
    if directory is None:
        settings = gateway.plugin_settings("dashboard")
        if not settings.mx_lookups:
            return None
        directory = _directories[gateway] = MxDirectory(gateway, settings)
    return directory
