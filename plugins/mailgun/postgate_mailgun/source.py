"""The ``mailgun_relay`` event source: page the upstream ``GET /v3/{domain}/events`` into Postgate.

For each upstream domain (Postgate's sending domains through ``domains``) it reads ascending pages
(``begin``, ``ascending=yes``, ``limit``), follows ``paging.next`` (its path and query only, asked
of ``base_url``) and stores where it stopped in the ``mailgun_relay_cursor`` table after each page
has been recorded, so a restart goes on from there (the first run starts
``events_lookback_seconds`` back). A page is recorded in one sink call, then the provider ids it
revealed are written; a crash between the two reads the page again, and its events are stored
once (their keys). An empty page means caught up: the same link is asked again after
``events_poll_seconds`` (Mailgun's ascending links stay open for newer events).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from postgate.backends import EventSink, EventSource

from . import cursor
from .mapping import UpstreamMapper
from .upstream import answer_json, answer_text, make_client, same_origin_path

log = logging.getLogger("postgate.mailgun_relay.events")

ERROR_DELAY = 5.0


class MailgunEventSource(EventSource):
    """Reads the upstream account's events back into Postgate (see the module documentation)."""

    name = "mailgun_relay"

    def __init__(self, gateway: Any) -> None:
        super().__init__(gateway)
        self.settings = gateway.plugin_settings("mailgun_relay")
        self.mapper = UpstreamMapper(gateway)
        self.client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self.client = make_client(self.settings)

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def upstream_domains(self) -> list[str]:
        return sorted(self.settings.local_domains(list(self.gateway.domains)))

    async def run(self, sink: EventSink) -> None:
        domains = self.upstream_domains()
        while True:
            caught_up = True
            for domain in domains:
                try:
                    caught_up = not await self.poll(domain, sink) and caught_up
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - an upstream outage must not end the loop
                    log.exception("mailgun_relay events: reading %s failed; retrying in %.0f s", domain, ERROR_DELAY)
                    await asyncio.sleep(ERROR_DELAY)
            if caught_up:
                await asyncio.sleep(self.settings.events_poll_seconds)

    async def first_path(self, domain: str) -> str:
        begin = time.time() - self.settings.events_lookback_seconds
        return (f"/v3/{domain}/events?ascending=yes&limit={self.settings.events_page_limit}"
                f"&begin={begin:.0f}")

    async def poll(self, domain: str, sink: EventSink) -> bool:
        """Read and record one page of ``domain``; ``True`` if it held events."""
        assert self.client is not None
        path = await cursor.load(self.gateway, domain) or await self.first_path(domain)
        response = await self.client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"upstream events answered {response.status_code}: {answer_text(response)}")
        page = answer_json(response)
        items = [item for item in page.get("items") or [] if isinstance(item, dict)]
        if not items:
            return False
        mapped = await self.mapper.map(domain, items)
        if mapped.events:
            await sink(mapped.events)
        if mapped.provider_ids:
            await self.gateway.storage.record_provider_ids(sorted(mapped.provider_ids.items()))
        if mapped.skipped:
            log.debug("mailgun_relay events: %d event(s) of %s are not Postgate's mail; skipped", mapped.skipped, domain)
        link = (page.get("paging") or {}).get("next")
        if isinstance(link, str) and link:
            await cursor.save(self.gateway, domain, same_origin_path(link))
        return True
