"""When a client last read a domain's events (``GET /v3/{domain}/events``): Ghost polls them every
minute or so, and a stop in its polling is why opens and bounces stop reaching Ghost.

No core hook sees API requests, so an app-wide ``after_app_request`` of a route-less blueprint,
registered on the API's app, notes each successful events read. Kept in memory per process: it
starts empty at each start, and with several gateway processes each knows its own polls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from quart import Blueprint, Response, g, request

#: The Mailgun blueprint's endpoints that read events (first page, and a page by token).
EVENT_ENDPOINTS = frozenset({"mailgun.events_list", "mailgun.events_page"})
MAX_AGENT = 200


@dataclass(frozen=True, slots=True)
class Poll:
    at: float
    user_agent: str


@dataclass
class PollClock:
    """The newest events read per sending domain."""

    last: dict[str, Poll] = field(default_factory=dict)

    def seen(self, domain: str, at: float, user_agent: str) -> None:
        self.last[domain.lower()] = Poll(at, user_agent[:MAX_AGENT])

    def get(self, domain: str) -> Poll | None:
        return self.last.get(domain.lower())


def poll_blueprint(clock: PollClock, now: Callable[[], float]) -> Blueprint:
    """A blueprint without routes whose app-wide hook notes every answered events read."""
    bp = Blueprint("dashboard_event_polls", __name__)

    @bp.after_app_request
    async def note_events_read(response: Response) -> Response:
        if request.endpoint in EVENT_ENDPOINTS and response.status_code == 200:
            domain = getattr(g, "domain", None)
            if domain:
                clock.seen(domain, now(), request.headers.get("User-Agent", ""))
        return response

    return bp
