"""When a client last read a domain's events (``GET /v3/{domain}/events``): Ghost polls them every
minute or so, and a stop in its polling is why opens and bounces stop reaching Ghost.

No core hook sees API requests, so an app-wide ``after_app_request`` of a route-less blueprint,
registered on the API's app, notes each successful events read in memory. The newest read per
domain is also kept in ``dashboard_event_polls``, so it survives a restart and every gateway
process sees the others' polls: written by a background task after the response, at most once
per :data:`WRITE_EVERY` seconds per domain and process (never a write per API request)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quart import Blueprint, Response, g, request
from tortoise.transactions import in_transaction

from ..rollups.models import EventPoll

log = logging.getLogger("postgate.dashboard")

#: The Mailgun blueprint's endpoints that read events (first page, and a page by token).
EVENT_ENDPOINTS = frozenset({"mailgun.events_list", "mailgun.events_page"})
MAX_AGENT = 200
MAX_DOMAIN = 255
#: Seconds between two writes of one domain's latest poll by one process.
WRITE_EVERY = 30.0


@dataclass(frozen=True, slots=True)
class Poll:
    at: float
    user_agent: str


@dataclass
class PollClock:
    """The newest events read per sending domain seen by this process, and their writing."""

    last: dict[str, Poll] = field(default_factory=dict)
    #: When each domain's poll was last handed to the writer (this process's clock).
    written: dict[str, float] = field(default_factory=dict)
    due: set[str] = field(default_factory=set)
    task: asyncio.Task | None = None

    def seen(self, domain: str, at: float, user_agent: str) -> bool:
        """Note a read; true when the domain's poll is due to be written."""
        key = domain.lower()[:MAX_DOMAIN]
        self.last[key] = Poll(at, user_agent[:MAX_AGENT])
        if at - self.written.get(key, float("-inf")) < WRITE_EVERY:
            return False
        self.written[key] = at
        self.due.add(key)
        return True

    def get(self, domain: str) -> Poll | None:
        return self.last.get(domain.lower()[:MAX_DOMAIN])

    def write_soon(self, gateway: Any) -> None:
        """Write the due polls in a task of their own (one at a time)."""
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._write_due(gateway), name="postgate-dashboard-polls")

    async def _write_due(self, gateway: Any) -> None:
        while self.due:
            polls = {domain: self.last[domain] for domain in sorted(self.due)}
            self.due.clear()
            try:
                await write_polls(gateway, polls)
            except Exception:  # noqa: BLE001 - the next read of the domain tries again
                log.exception("writing when events were last read failed")
                for domain in polls:
                    self.written.pop(domain, None)
                return

    async def close(self, gateway: Any) -> None:
        """Finish the write under way and write what is due (at shutdown)."""
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task
        await self._write_due(gateway)

    async def latest(self, gateway: Any, domain: str) -> Poll | None:
        """The newest read of ``domain`` by any process: the table's, or this process's if newer."""
        stored = await read_poll(gateway, domain)
        mine = self.get(domain)
        if stored is None or (mine is not None and mine.at >= stored.at):
            return mine
        return stored


def _upsert(mysql: bool) -> str:
    """Insert a domain's poll, or update it unless the stored one is newer (another process's)."""
    if mysql:
        return ("INSERT INTO dashboard_event_polls (domain, polled_at, user_agent) VALUES (%s, %s, %s) "
                "ON DUPLICATE KEY UPDATE user_agent = IF(VALUES(polled_at) >= polled_at, VALUES(user_agent), "
                "user_agent), polled_at = GREATEST(polled_at, VALUES(polled_at))")
    return ("INSERT INTO dashboard_event_polls (domain, polled_at, user_agent) VALUES (?, ?, ?) "
            "ON CONFLICT (domain) DO UPDATE SET polled_at = excluded.polled_at, user_agent = excluded.user_agent "
            "WHERE excluded.polled_at >= dashboard_event_polls.polled_at")


async def write_polls(gateway: Any, polls: dict[str, Poll]) -> None:
    """Keep each domain's newest poll in ``dashboard_event_polls``, in one transaction."""
    with gateway.storage.orm():
        async with in_transaction() as db:
            statement = _upsert(db.capabilities.dialect == "mysql")
            for domain, poll in polls.items():
                await db.execute_query(statement, [domain, int(poll.at), poll.user_agent])


async def read_poll(gateway: Any, domain: str) -> Poll | None:
    with gateway.storage.orm():
        row = await EventPoll.filter(domain=domain.lower()[:MAX_DOMAIN]).values_list("polled_at", "user_agent")
    return Poll(float(row[0][0]), row[0][1]) if row else None


def poll_blueprint(clock: PollClock, gateway: Any, now: Callable[[], float]) -> Blueprint:
    """A blueprint without routes whose app-wide hook notes every answered events read."""
    bp = Blueprint("dashboard_event_polls", __name__)

    @bp.after_app_request
    async def note_events_read(response: Response) -> Response:
        if request.endpoint in EVENT_ENDPOINTS and response.status_code == 200:
            domain = getattr(g, "domain", None)
            if domain and clock.seen(domain, now(), request.headers.get("User-Agent", "")):
                clock.write_soon(gateway)
        return response

    return bp
