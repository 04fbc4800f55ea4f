"""The four kinds of backend a plugin can provide, as small abstract classes.

Every method is batch-shaped: no caller makes a round trip per recipient. Each backend kind has a
contract test suite in :mod:`postgate.testing.contracts` that every implementation runs
(``StorageContract``, ``QueueContract``).

A backend is built by the factory passed to ``register(name, factory)`` in the matching
``register_*`` hook: ``factory(gateway)`` returns the backend; it opens its connections in
:meth:`start` and closes them in :meth:`stop`.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from .domain import (
    Batch,
    BatchCounts,
    BatchCreated,
    DeadJob,
    DeliveryResult,
    Event,
    EventCount,
    EventQuery,
    Job,
    JobSummary,
    NewBatch,
    NewRecipient,
    Recipient,
    RecipientUpdate,
    RenderedMessage,
    ServedEvent,
    Suppression,
    TagInfo,
)
from .event_json import mailgun_json

if TYPE_CHECKING:
    from .app import Gateway
    from .operations import AccountStatus, Quota, RouteStatus

#: ``error`` of a ``sending`` row whose message was handed to the provider (see ``mark_dispatched``).
IN_FLIGHT = "in flight: handed to the provider, answer not recorded yet"


class Backend(abc.ABC):
    """Base of every backend: lifecycle and a readiness probe."""

    name: str = ""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def start(self) -> None:  # noqa: B027 - optional
        """Open clients and pools."""

    async def stop(self) -> None:  # noqa: B027 - optional
        """Close what :meth:`start` opened."""

    async def check(self) -> None:  # noqa: B027 - optional
        """Raise if the backend cannot serve right now (used by readiness and ``doctor``)."""


class NoDeadLetters(RuntimeError):
    """Raised by a queue backend that keeps no dead letters (the :class:`Queue` defaults)."""


class Queue(Backend):
    """Durable at-least-once job queue between the ingress and the workers."""

    @abc.abstractmethod
    async def put(self, jobs: Sequence[Job]) -> None:
        """Store ``jobs`` durably. When this returns, the jobs survive a crash."""

    @abc.abstractmethod
    async def receive(self, max_jobs: int, wait: float) -> list[Job]:
        """Lease up to ``max_jobs`` jobs, waiting up to ``wait`` seconds for the first one.

        A leased job is invisible to other receivers until its lease expires, it is acknowledged,
        or it is released with :meth:`nack`. Jobs whose ``not_before`` lies in the future are not
        returned before that time.
        """

    @abc.abstractmethod
    async def extend(self, job: Job) -> None:
        """Renew the lease of a job still being worked on (a heartbeat)."""

    @abc.abstractmethod
    async def ack(self, jobs: Sequence[Job]) -> None:
        """Remove finished jobs for good."""

    @abc.abstractmethod
    async def nack(self, job: Job, delay: float) -> None:
        """Release a job so it is received again after ``delay`` seconds."""

    async def depth(self) -> int | None:
        """Jobs waiting, if the backend can tell cheaply."""
        return None

    async def oldest_age(self) -> float | None:
        """Seconds since the oldest job still queued was put, if the backend can tell cheaply
        (``postgate status`` and metrics show it; ``None``: unknown)."""
        return None

    async def dead_letter_depth(self) -> int | None:
        """Dead-lettered jobs, if the backend keeps them and can count them cheaply."""
        return None

    # -- failed jobs and dead letters (see docs/operations-jobs.md) ----------------------------

    async def fail(self, job: Job, delay: float, reason: str) -> None:
        """Release a job whose attempt failed, to be received again after ``delay`` seconds, and
        count the failure durably: the next receive of the job has ``failures`` one higher.

        The default only releases (a backend that cannot count never dead-letters by count)."""
        await self.nack(job, delay)

    async def dead_letter(self, job: Job, reason: str) -> None:
        """Move a leased job to the dead-letter place with ``reason``: it is not received again
        until :meth:`redrive`. ``job.failures`` is kept with it."""
        raise NoDeadLetters(f"the {self.name or type(self).__name__} queue has no dead letters")

    async def list_dead(self, limit: int = 100) -> list[DeadJob]:
        """Up to ``limit`` dead-lettered jobs, oldest first."""
        raise NoDeadLetters(f"the {self.name or type(self).__name__} queue has no dead letters")

    async def get_dead(self, dead_id: str) -> DeadJob | None:
        """The dead letter ``dead_id`` (a :attr:`DeadJob.id`), or ``None`` if there is none."""
        raise NoDeadLetters(f"the {self.name or type(self).__name__} queue has no dead letters")

    async def redrive(self, dead_id: str) -> DeadJob | None:
        """Put the dead letter ``dead_id`` (a :attr:`DeadJob.id`) back on the queue with its failure
        count reset; return it, or ``None`` if there is no such dead letter."""
        raise NoDeadLetters(f"the {self.name or type(self).__name__} queue has no dead letters")


class Delivery(Backend):
    """Hands rendered messages to a provider."""

    #: How many :meth:`send` calls a worker may have in flight at once.
    concurrency: int = 4
    #: Messages per second the provider allows, or ``None`` for no limit.
    max_rate: float | None = None

    @abc.abstractmethod
    async def send(self, messages: Sequence[RenderedMessage]) -> list[DeliveryResult]:
        """Send each message once; return one result per message, in order.

        Never retry inside: the ledger owns retries. Raise only for failures that concern the whole
        call (the provider is unreachable); every message of the call is then retried later.
        """

    async def send_each(self, messages: Sequence[RenderedMessage], sink: OutcomeSink) -> None:
        """Send each message once and hand each result to ``sink`` as soon as it is known.

        Await ``sink.dispatching(ids)`` right before the provider can see those messages and send
        only the ids it returns (the others were taken over by another worker: no call, no
        result); await ``sink.result(result)`` for each answer. Both return once the ledger holds
        it, so a crash leaves in doubt only the messages between the two. Raise like :meth:`send` for a failure
        of the whole call (messages without a result are then retried). This default wraps
        :meth:`send`; a backend that answers message by message overrides it so that only the
        calls really in flight are ever in doubt.
        """
        cleared = set(await sink.dispatching([message.recipient_id for message in messages]))
        messages = [message for message in messages if message.recipient_id in cleared]
        if not messages:
            return
        results = await self.send(messages)
        if len(results) != len(messages):
            raise RuntimeError(f"delivery returned {len(results)} results for {len(messages)} messages")
        await asyncio.gather(*(sink.result(result) for result in results))  # one group commit

    async def settle(self, recipients: Sequence[Recipient]) -> dict[int, DeliveryResult]:
        """Decide the outcome of rows left ``sending`` by a crash, where the backend can tell.

        Return results for the rows whose outcome is known; rows left out stay in doubt and are
        retried only when the backend says it is safe (:attr:`resend_in_doubt`). ``unsent``: the
        provider never took it (send again, no event); ``unknown``: the backend has given up
        finding out, and ``gateway.in_doubt`` decides (hold or resend).
        """
        return {}

    #: Whether a row whose outcome :meth:`settle` cannot tell may be sent again.
    resend_in_doubt: bool = False

    def components(self) -> Sequence[Delivery]:
        """The deliveries that really send: this one, or for a delivery that composes others (the
        built-in ``routes``) theirs. A plugin looking for its own backend among the gateway's
        searches here rather than comparing ``gateway.delivery`` alone."""
        return (self,)

    async def quota(self) -> Quota | None:
        """The provider's sending quota as last known, for ``postgate status`` and metrics.

        Called on every snapshot: answer from what the backend already knows (no provider call
        each time). ``None``: the backend has no quota to report. The default reports
        :attr:`max_rate` alone, if set."""
        if not self.max_rate:
            return None
        from .operations import Quota

        return Quota(max_24h=None, sent_24h=None, max_rate=float(self.max_rate), source="max_rate")

    async def account_status(self) -> AccountStatus | None:
        """The provider account's standing (sending enabled, enforcement status, sandbox) as last
        known, for the dashboard's Reputation page. Like :meth:`quota`, answer from what the
        backend already knows; ``None`` (the default): the backend has no provider account."""
        return None

    async def route_statuses(self) -> list[RouteStatus]:
        """For a delivery that composes others (the built-in ``routes``): each one's share of the
        mail, rate, quota and rate in use, for ``postgate status``. Like :meth:`quota`, no
        provider call each time. The default: ``[]`` (a single delivery)."""
        return []


class OutcomeSink(Protocol):
    """Where :meth:`Delivery.send_each` reports progress (the worker's outcome recorder)."""

    async def dispatching(self, recipient_ids: Sequence[int]) -> Sequence[int]:
        """These messages are about to reach the provider; returns, once the ledger knows, the
        ids that may be sent (a row whose lease was lost meanwhile is left out)."""

    async def result(self, result: DeliveryResult) -> None:
        """One message's outcome; returns once the ledger holds it."""


EventSink = Callable[[list[Event]], Awaitable[None]]


class EventSource(Backend):
    """A long-lived consumer of provider events (SES notifications, …)."""

    @abc.abstractmethod
    async def run(self, sink: EventSink) -> None:
        """Consume provider events until cancelled, handing mapped events to ``sink`` in batches.

        ``sink`` stores the events and runs ``events_recorded`` listeners; acknowledge the
        provider's messages only after it returns.
        """


class Storage(Backend):
    """Batches, the recipient ledger, events, suppressions, tags, local queue jobs, rate buckets.

    Times are float epoch seconds unless a name says microseconds.
    """

    # -- schema ------------------------------------------------------------------------------

    @abc.abstractmethod
    async def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the names of those applied."""

    # -- batches and the ledger ---------------------------------------------------------------

    @abc.abstractmethod
    async def create_batch(self, batch: NewBatch, recipients: Sequence[NewRecipient]) -> BatchCreated:
        """Store a batch and its ledger rows in one transaction, idempotently.

        If a batch with the same ``(domain, idempotency_key)`` exists, nothing is written and it
        is returned with ``created=False``. Recipients whose ``(domain, email_id, address)``
        already has a ledger row (an overlapping earlier batch of the same email) are not stored
        again and are listed in ``skipped``. New rows get ascending ids, status ``queued``.
        """

    @abc.abstractmethod
    async def get_batch(self, batch_id: int) -> Batch | None: ...

    @abc.abstractmethod
    async def mark_batch(self, batch_id: int, *, enqueued: bool | None = None,
                         accepted_logged: bool | None = None) -> None:
        """Set a batch's ``enqueued`` / ``accepted_logged`` flags."""

    @abc.abstractmethod
    async def unenqueued_batches(self, older_than: float, limit: int) -> list[Batch]:
        """Batches created before ``older_than`` whose job was never confirmed as queued."""

    @abc.abstractmethod
    async def claim_recipients(
        self,
        batch_id: int,
        owner: str,
        lease_seconds: float,
        limit: int,
        now: float,
        first_id: int | None = None,
        last_id: int | None = None,
    ) -> list[Recipient]:
        """Lease up to ``limit`` claimable rows of a batch (in id order, within the id range).

        Claimable: ``queued``; ``retry`` with ``next_attempt_at <= now``; ``sending`` with an
        expired lease (returned with ``in_doubt=True``). Claimed rows become ``sending`` with
        ``lease_owner=owner`` and ``lease_until=now+lease_seconds``; ``attempts`` is unchanged.
        Two concurrent claimers never receive the same row.
        """

    @abc.abstractmethod
    async def list_recipients(self, batch_id: int, after_id: int, limit: int) -> list[Recipient]:
        """Ledger rows of a batch with ``id > after_id``, in id order (any status)."""

    @abc.abstractmethod
    async def get_recipients(self, ids: Sequence[int]) -> list[Recipient]:
        """Ledger rows by id, in id order (unknown ids are left out)."""

    @abc.abstractmethod
    async def find_recipients(self, provider_ids: Sequence[str]) -> list[Recipient]:
        """Ledger rows whose ``provider_id`` is one of ``provider_ids``, in id order."""

    @abc.abstractmethod
    async def record_provider_ids(self, pairs: Sequence[tuple[int, str]]) -> int:
        """Settle sends from provider events: set ``provider_id`` on rows ``(id, provider_id)``
        that have none. Such rows still ``sending`` (in doubt) or ``retry`` (taken for not
        accepted, yet the provider had it) become ``sent``, lease and retry time cleared, so they
        are never sent again; no other status changes. Returns how many rows got an id."""

    @abc.abstractmethod
    async def update_recipients(self, updates: Sequence[RecipientUpdate]) -> None:
        """Apply ``updates`` in bulk and clear the leases of those rows."""

    #: Whether :meth:`mark_dispatched` really marks rows (else every in-doubt row counts as handed over).
    marks_dispatch: bool = False

    async def mark_dispatched(self, ids: Sequence[int], owner: str, lease_until: float) -> list[int]:
        """Mark rows still ``sending`` under ``owner``'s lease as handed to the provider (``error``
        = :data:`IN_FLIGHT`) and renew their lease to ``lease_until``, in bulk; return the ids
        marked. Rows claimed by another worker meanwhile are left alone and must not be sent.

        A row claimed again in doubt without the mark never reached the provider and is sent as
        usual; one with it is settled first. Storages that cannot mark keep this default.
        """
        return list(ids)

    async def mark_dispatched_groups(self, groups: Mapping[str, Sequence[int]],
                                     lease_until: float) -> dict[str, set[int]]:
        """:meth:`mark_dispatched` for the rows of several lease owners (``owner -> ids``), in one
        transaction where the storage can; returns, per owner, the ids marked for that owner. An
        id may be asked for by two owners (a slow pass and the one that took its rows over): only
        the owner holding the lease gets it back."""
        return {owner: set(await self.mark_dispatched(ids, owner, lease_until)) for owner, ids in groups.items()}

    async def update_and_mark(self, updates: Sequence[RecipientUpdate], groups: Mapping[str, Sequence[int]],
                              lease_until: float) -> dict[str, set[int]]:
        """:meth:`update_recipients`, then :meth:`mark_dispatched_groups` (in one transaction where the
        storage can): a worker's group commit of answers and of the sends it starts next."""
        await self.update_recipients(updates)
        return await self.mark_dispatched_groups(groups, lease_until)

    @abc.abstractmethod
    async def pending_recipients(self, batch_id: int, first_id: int | None = None,
                                 last_id: int | None = None) -> tuple[int, float | None]:
        """How many rows of the range are not terminal, and the earliest ``next_attempt_at``
        or lease expiry among them (``None`` if one is claimable now)."""

    async def batch_progress(self, since: float, now: float) -> list[BatchCounts]:
        """Progress of every batch with a row not yet terminal, or with a row that became
        terminal at or after ``since``: its row count per status, rows in doubt (``sending``
        with a lease expired by ``now``), rows finished since ``since``, in a few statements for
        all batches (no round trip per batch). Ordered by batch id.

        The default reports nothing (a storage that cannot tell shows no batches in flight)."""
        return []

    # -- events -------------------------------------------------------------------------------

    @abc.abstractmethod
    async def save_events(self, events: Sequence[Event]) -> list[Event]:
        """Store events; return the ones stored now, with ``id``, ``event_id`` and ``recorded_at`` set.

        Events whose ``key`` is already stored are skipped. ``recorded_at`` is a whole second of
        the storage's clock (in microseconds) that never goes backwards, never falls in a second a
        reader has already been shown (see :meth:`page_events`), and ascends with the ids.
        """

    @abc.abstractmethod
    async def page_events(self, query: EventQuery) -> list[Event]:
        """One page of events, ordered by ``(recorded_at, id)`` in the query's direction.

        A page never shows an event stamped after the current second, and once a page has shown a
        second (or reached a cut-off in it), no event is stored in that second afterwards: a
        reader that moves on past a second it has seen, or past its ``end``, misses nothing.
        """

    async def page_served_events(self, query: EventQuery) -> list[ServedEvent]:
        """:meth:`page_events` with each event as the events API's JSON object (text). Storages
        that keep the API's encoding of a payload override it to splice stored text."""
        return [ServedEvent(id=int(event.id or 0), recorded_at=int(event.recorded_at or 0), json=mailgun_json(event))
                for event in await self.page_events(query)]

    @abc.abstractmethod
    async def count_events(self, domain: str, events: Sequence[str], start: float, end: float,
                           resolution: int, tag: str | None = None) -> list[EventCount]:
        """Events of the given types in ``[start, end)`` grouped into buckets of ``resolution``
        seconds (aligned to the epoch), by type, severity and reason; for one tag if given."""

    @abc.abstractmethod
    async def purge(self, before: float, batch_size: int) -> int:
        """Delete up to ``batch_size`` events and batches (with their ledger rows) recorded or
        created before ``before``; return how many rows went. Call again until it returns 0."""

    # -- suppressions -------------------------------------------------------------------------

    @abc.abstractmethod
    async def add_suppressions(self, items: Sequence[Suppression]) -> None:
        """Insert or replace entries keyed by ``(domain, list, address)``, in one transaction."""

    @abc.abstractmethod
    async def get_suppression(self, domain: str, list_name: str, address: str) -> Suppression | None:
        """Look an entry up; addresses compare case-insensitively."""

    @abc.abstractmethod
    async def delete_suppression(self, domain: str, list_name: str, address: str) -> bool:
        """Remove an entry; ``False`` if there was none."""

    @abc.abstractmethod
    async def clear_suppressions(self, domain: str, list_name: str) -> int: ...

    @abc.abstractmethod
    async def list_suppressions(self, domain: str, list_name: str, *, limit: int,
                                pivot: str | None = None, forward: bool = True,
                                term: str | None = None) -> list[Suppression]:
        """Entries sorted by address. ``forward``: addresses > ``pivot`` ascending; otherwise
        addresses < ``pivot`` (the page before), still returned ascending. ``term``: prefix."""

    @abc.abstractmethod
    async def find_suppressions(self, domain: str, addresses: Sequence[str]) -> list[Suppression]:
        """Every entry, on any list, for any of ``addresses`` or (whitelists) their domains.

        One query for the whole sequence: this runs on the delivery hot path.
        """

    # -- tags ---------------------------------------------------------------------------------

    @abc.abstractmethod
    async def touch_tags(self, domain: str, tags: Sequence[str], seen: float) -> None:
        """Record that ``tags`` were used at ``seen`` (insert or update ``last_seen``)."""

    @abc.abstractmethod
    async def list_tags(self, domain: str, *, limit: int, pivot: str | None = None,
                        forward: bool = True, prefix: str | None = None) -> list[TagInfo]: ...

    @abc.abstractmethod
    async def get_tag(self, domain: str, tag: str) -> TagInfo | None: ...

    @abc.abstractmethod
    async def update_tag(self, domain: str, tag: str, description: str) -> bool: ...

    @abc.abstractmethod
    async def delete_tag(self, domain: str, tag: str) -> bool: ...

    # -- local queue ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def enqueue_jobs(self, queue: str, jobs: Sequence[Job]) -> None: ...

    @abc.abstractmethod
    async def lease_jobs(self, queue: str, owner: str, max_jobs: int, lease_seconds: float,
                         now: float) -> list[Job]:
        """Lease visible jobs (``available_at <= now`` and no live lease) in order; bump ``attempts``."""

    @abc.abstractmethod
    async def extend_job(self, job: Job, owner: str, lease_seconds: float, now: float) -> None: ...

    @abc.abstractmethod
    async def delete_jobs(self, jobs: Sequence[Job]) -> None: ...

    @abc.abstractmethod
    async def release_job(self, job: Job, available_at: float) -> None: ...

    @abc.abstractmethod
    async def count_jobs(self, queue: str) -> int:
        """Jobs of ``queue`` that are not dead-lettered."""

    async def job_summary(self, queue: str) -> JobSummary | None:
        """Counts of ``queue``'s jobs (live and dead-lettered) and when its oldest live job was
        created, in one statement. The default: ``None`` (unknown)."""
        return None

    @abc.abstractmethod
    async def fail_job(self, job: Job, available_at: float, error: str) -> int:
        """Release a leased job after a failed attempt: add one to its ``failures``, keep ``error``,
        make it visible at ``available_at``; return the new failure count."""

    @abc.abstractmethod
    async def bury_job(self, job: Job, error: str, now: float) -> None:
        """Dead-letter a job (``dead_at = now``, ``failures = job.failures``): never leased again
        until :meth:`revive_job`."""

    @abc.abstractmethod
    async def dead_jobs(self, queue: str, limit: int) -> list[DeadJob]:
        """Up to ``limit`` dead-lettered jobs of ``queue``, oldest ``dead_at`` first."""

    @abc.abstractmethod
    async def find_dead_job(self, queue: str, job_id: str) -> DeadJob | None:
        """The dead job ``job_id`` of ``queue``, or ``None`` (unknown id, or not dead)."""

    @abc.abstractmethod
    async def revive_job(self, queue: str, job_id: str, now: float) -> DeadJob | None:
        """Make a dead job of ``queue`` visible at ``now`` with ``failures`` reset; return it as it
        was, or ``None`` if ``job_id`` names no dead job of that queue."""

    # -- shared rate budget -------------------------------------------------------------------

    @abc.abstractmethod
    async def grant_sends(self, bucket: str, count: int, budget: int, window: float, now: float,
                          lease: float, ticket: int = 0) -> tuple[float, int | None]:
        """Sliding-window rate shared by every worker: grant ``count`` sends if the grants that
        still count (open ones, and released ones until ``window`` seconds after their release)
        plus ``count`` stay within ``budget``, and return ``(0, grant id)``; else grant nothing
        and return ``(seconds to wait, None)``. A grant left open longer than ``lease`` (its worker
        died) stops counting. ``count > budget`` is granted only into an empty window.

        Fairness: a refused caller with a ``ticket`` (a positive number of its own, the same on
        every try) becomes *next in line* when nobody is; until it is granted (or comes back more
        than a second after the wait it was given) every other caller is refused, so callers
        polling the same window take turns instead of the quickest taking every grant. The caller
        granted last does not become next in line (for a window and a second after its grant)."""

    @abc.abstractmethod
    async def release_sends(self, grant_id: int, now: float) -> None:
        """The granted sends were all made by ``now``: they count until ``now + window``."""

    async def send_usage(self, bucket: str, window: float, now: float, lease: float) -> int | None:
        """Read only, for ``postgate status``: the sends :meth:`grant_sends` would count against
        ``bucket`` at ``now`` (open grants younger than ``lease``, released ones until ``window``
        seconds after their release). The default: ``None`` (unknown)."""
        return None
