"""An operations snapshot: what the gateway is doing right now, read from the shared backends.

:func:`take_snapshot` asks the storage, the queue and the delivery backend in a handful of cheap
calls; ``postgate status`` prints the result and metrics plugins turn it into gauges. It reads only
shared state, so any process with the same configuration sees what every worker is doing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .domain import BatchCounts

if TYPE_CHECKING:
    from .app import Gateway

#: Seconds over which a batch's rate is measured; batches finished this recently are still shown.
RATE_WINDOW = 60.0


@dataclass(slots=True)
class Quota:
    """A provider's sending quota as last known (``None``: unknown or unlimited)."""

    max_24h: float | None
    sent_24h: float | None
    max_rate: float | None  # messages per second
    source: str  # where the figures come from, e.g. "GetAccount" or "settings"

    @property
    def left_24h(self) -> float | None:
        if self.max_24h is None or self.sent_24h is None:
            return None
        return max(0.0, self.max_24h - self.sent_24h)


@dataclass(slots=True)
class RouteStatus:
    """One delivery behind the built-in ``routes`` delivery: what it takes, its rate and quota,
    and how much of its rate is in use (see ``docs/routing.md``).

    ``takes``: ``"default"`` and/or ``"rule <n> (<match>): <percent>%"`` per rule that sends to
    it; ``max_rate``: messages per second it is held to (``None``: no limit of its own);
    ``window_sends`` of ``window_budget``: sends its rate bucket (``delivery:<name>``, shared by
    every worker and process) counts in the current ``window_seconds``, ``None`` without a rate
    or when the storage cannot tell; ``quota``: the delivery's own :meth:`Delivery.quota`."""

    name: str
    takes: list[str]
    max_rate: float | None
    quota: Quota | None
    window_sends: int | None = None
    window_budget: int | None = None
    window_seconds: float | None = None


@dataclass(slots=True)
class AccountStatus:
    """The provider account's standing as last read (``None``: the provider does not say).

    ``enforcement_status`` is the provider's own word (SES: ``HEALTHY``, ``PROBATION``,
    ``SHUTDOWN``); ``production`` is ``False`` while the account is in a sandbox."""

    source: str  # where it was read, e.g. "GetAccount"
    sending_enabled: bool | None = None
    enforcement_status: str | None = None
    production: bool | None = None
    read_at: float | None = None  # epoch seconds of the reading


@dataclass(slots=True)
class DomainCheck:
    """One check of a sending domain's set-up (identity, DKIM, SPF, DMARC…), as the
    ``domain_checks`` hook returns it. ``status`` is ``PASS``, ``WARN``, ``FAIL`` or ``SKIP``;
    ``fix`` says what to do when it did not pass."""

    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass(slots=True)
class BatchProgress:
    """One accepted batch (a newsletter, for Ghost) on its way out.

    ``counts`` maps ledger statuses to rows; ``done``: rows in a terminal status; ``in_doubt``:
    rows ``sending`` whose lease expired; ``rate``: rows finished per second over the last
    :data:`RATE_WINDOW` seconds (``None`` before the batch has been around for a second);
    ``eta_seconds``: ``0`` when done, ``None`` when unknown (nothing finished lately, or
    scheduled for later).
    """

    batch_id: int
    domain: str
    email_id: str | None  # Ghost's ``v:email-id``
    tags: list[str]
    total: int
    counts: dict[str, int]
    done: int
    in_doubt: int
    created_at: float
    rate: float | None
    eta_seconds: float | None
    deliver_at: float | None = None
    batch_count: int = 1  # batches summed up here (several for one newsletter, see ``newsletters``)

    @property
    def finished(self) -> bool:
        return self.done >= self.total


@dataclass(slots=True)
class OperationsSnapshot:
    """The gateway's state at ``taken_at``; ``None`` fields are what a backend cannot tell."""

    taken_at: float
    queue_depth: int | None
    oldest_job_age: float | None  # seconds
    in_doubt: int
    batches: list[BatchProgress] = field(default_factory=list)
    quota: Quota | None = None
    dead_jobs: int | None = None
    #: ``batches`` summed per newsletter: Ghost posts one batch per 1,000 recipients of an email,
    #: all with its ``v:email-id``; batches without one stand alone.
    newsletters: list[BatchProgress] = field(default_factory=list)
    #: Each route of the built-in ``routes`` delivery (empty for any other delivery); ``quota``
    #: above is then the ``default`` route's.
    routes: list[RouteStatus] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``postgate status --json``)."""
        return dataclasses.asdict(self)


def batch_progress(counts: BatchCounts, since: float, now: float, batch_count: int = 1) -> BatchProgress:
    """A batch's progress from its ledger counts, with rate and ETA over ``[since, now]`` (over
    ``[since, last row finished]`` once every row is)."""
    total, done = counts.total, counts.done
    started = max(since, counts.created_at, counts.deliver_at or 0.0)
    ended = min(now, counts.last_finished_at) if done >= total and counts.last_finished_at else now
    elapsed = ended - started
    rate = counts.finished_since / elapsed if elapsed >= 1.0 else None
    remaining = total - done
    if remaining <= 0:
        eta: float | None = 0.0
    elif rate and (counts.deliver_at is None or counts.deliver_at <= now):
        eta = remaining / rate
    else:
        eta = None
    return BatchProgress(
        batch_id=counts.batch_id, domain=counts.domain, email_id=counts.email_id,
        tags=list(counts.tags), total=total, counts=dict(counts.counts), done=done,
        in_doubt=counts.in_doubt, created_at=counts.created_at, rate=rate, eta_seconds=eta,
        deliver_at=counts.deliver_at, batch_count=batch_count,
    )


def merge_counts(parts: list[BatchCounts]) -> BatchCounts:
    """Several batches' counts as one (the lowest batch id, the earliest creation)."""
    counts: dict[str, int] = {}
    for part in parts:
        for status, n in part.counts.items():
            counts[status] = counts.get(status, 0) + n
    finished = [p.last_finished_at for p in parts if p.last_finished_at is not None]
    scheduled = [p.deliver_at for p in parts]
    first = min(parts, key=lambda p: p.batch_id)
    return BatchCounts(
        batch_id=first.batch_id, domain=first.domain, email_id=first.email_id, tags=list(first.tags),
        created_at=min(p.created_at for p in parts),
        deliver_at=None if None in scheduled else min(d for d in scheduled if d is not None),
        counts=counts, in_doubt=sum(p.in_doubt for p in parts),
        finished_since=sum(p.finished_since for p in parts),
        last_finished_at=max(finished, default=None),
    )


def newsletters(counts: list[BatchCounts], since: float, now: float) -> list[BatchProgress]:
    """Progress per newsletter: batches sharing a domain and ``email_id`` summed up, in order of
    their first batch."""
    groups: dict[tuple[str, str] | int, list[BatchCounts]] = {}
    for part in counts:
        key = (part.domain, part.email_id) if part.email_id else part.batch_id
        groups.setdefault(key, []).append(part)
    return [batch_progress(merge_counts(parts), since, now, batch_count=len(parts))
            for parts in groups.values()]


async def _or_none(call: Callable[[], Awaitable[Any]]) -> Any:
    """A backend's answer, or ``None`` if it fails (a snapshot shows what it can). ``call`` is
    called here, not by the caller: a snapshot cancelled before this step starts (its page's
    stream closed, its server stopping) then leaves no backend coroutine created and never awaited."""
    try:
        return await call()
    except Exception:  # noqa: BLE001 - one unreachable backend must not hide the others
        return None


async def take_snapshot(gateway: Gateway) -> OperationsSnapshot:
    """Read queue depth, job age, dead letters, batches in flight, quota and routes from the backends."""
    now = time.time()
    since = now - RATE_WINDOW
    counts, depth, oldest_age, dead, quota, routes = await asyncio.gather(
        gateway.storage.batch_progress(since, now),
        _or_none(gateway.queue.depth),
        _or_none(gateway.queue.oldest_age),
        _or_none(gateway.queue.dead_letter_depth),
        _or_none(gateway.delivery.quota),
        _or_none(gateway.delivery.route_statuses),
    )
    batches = [batch_progress(c, since, now) for c in counts]
    return OperationsSnapshot(
        taken_at=now,
        queue_depth=depth,
        oldest_job_age=oldest_age,
        in_doubt=sum(b.in_doubt for b in batches),
        batches=batches,
        quota=quota,
        dead_jobs=dead,
        newsletters=newsletters(counts, since, now),
        routes=routes or [],
    )
