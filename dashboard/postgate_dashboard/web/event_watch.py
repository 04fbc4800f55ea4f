"""The silent pipeline: sends go on while no event comes back from the provider.

Providers report deliveries, bounces and complaints later, through an event source (SES through
SNS and SQS). When that source breaks, sends still succeed and nothing looks wrong until a
publisher notices that nobody opened anything. The Operations page warns when recipients finished
in the last minute on a domain whose newest provider event is older than the threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from postgate import EventQuery, Not, Term

#: Events Postgate writes itself when it accepts a message; every other event came back from the
#: delivery side.
OWN_EVENTS = ("accepted",)


@dataclass(frozen=True, slots=True)
class Silence:
    domain: str
    seconds: float  # since the newest provider event, or since sending started when there is none
    ever: bool  # whether the domain ever had a provider event


def silence(domain: str, last_event_at: float | None, active: Iterable[Any], now: float,
            threshold: float) -> Silence | None:
    """A :class:`Silence` when ``active`` batches (sending now) have gone ``threshold`` seconds
    without a provider event: counted from the newest event, or from the oldest active batch's
    creation when the domain never had one."""
    starts = [b.created_at for b in active]
    if not starts:
        return None
    since = last_event_at if last_event_at is not None else min(starts)
    quiet = now - since
    return Silence(domain, quiet, last_event_at is not None) if quiet > threshold else None


async def last_provider_event(gateway: Any, domain: str) -> float | None:
    """When the newest event not written by Postgate itself was recorded (epoch seconds)."""
    query = EventQuery(domain=domain, ascending=False, limit=1, live=True,
                       filter=Not(Term("event", OWN_EVENTS[0])))
    events = await gateway.storage.page_events(query)
    if not events or events[0].recorded_at is None:
        return None
    return events[0].recorded_at / 1_000_000


async def ingest_lags(gateway: Any, snapshot: Any) -> list[Silence]:
    """The event-ingest lag of each domain sending now (recipients finished within the last
    minute): seconds since its newest provider event, or since its oldest batch in flight started
    when it never had one. Sends going on while this grows mean events stopped arriving."""
    sending: dict[str, list[Any]] = {}
    for batch in snapshot.batches:
        if batch.rate:  # recipients finished within the last minute
            sending.setdefault(batch.domain, []).append(batch)
    found = []
    for domain, batches in sorted(sending.items()):
        lag = silence(domain, await last_provider_event(gateway, domain), batches, snapshot.taken_at, float("-inf"))
        if lag is not None:
            found.append(lag)
    return found


async def silences(gateway: Any, snapshot: Any, threshold: float) -> list[Silence]:
    """One :class:`Silence` per sending domain whose provider events stopped."""
    return [lag for lag in await ingest_lags(gateway, snapshot) if lag.seconds > threshold]


async def newest_provider_event(gateway: Any, domains: Iterable[str]) -> tuple[str, float] | None:
    """The domain with the newest provider event of all, and when it was recorded."""
    newest = None
    for domain in domains:
        at = await last_provider_event(gateway, domain)
        if at is not None and (newest is None or at > newest[1]):
            newest = (domain, at)
    return newest
