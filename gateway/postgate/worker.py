"""The delivery worker: queue jobs in, ledger rows through the delivery backend, events out.

One :class:`Worker` loop leases up to ``jobs_per_worker`` jobs and works on them concurrently. Per
job it logs ``accepted`` for the whole batch once, waits for ``o:deliverytime``, then repeatedly
claims a chunk of ledger rows under a lease and takes it through suppression, test mode,
rendering, ``prepare_message`` hooks and ``Delivery.send_each``. Each send's answer becomes its
ledger update and events as soon as it arrives; the worker's :class:`~postgate.recorder.OutcomeRecorder`
writes them from every concurrent send in one group every few milliseconds (no round trip per
recipient). The job is acknowledged only when every row of it is terminal.

Crash safety. Events are recorded before the ledger update that makes a row terminal, and every
event has a deterministic key, so redoing a step after a crash stores nothing twice. Right before
a message reaches the provider, its row is marked *in flight* (``Storage.mark_dispatched``,
grouped too, and only while the lease is still this worker's): a worker that fell behind its
lease sends nothing another worker took over. A worker that dies leaves its rows ``sending``; when their lease expires
another worker claims them: rows never marked were not handed over and are simply sent; marked
ones are *in doubt* — at most the calls that were in flight — and :meth:`Delivery.settle` is
asked first:

- an outcome the backend knows is applied as if ``send`` had returned it (no second send);
- ``unsent`` (the provider never took it) is sent again at once, with no event;
- an unknown outcome is sent again only when the backend allows it (``resend_in_doubt``, e.g. the
  outbox, which can tell a message it never wrote);
- otherwise the row stays in doubt under a fresh lease and is asked about again when that lease
  expires, so provider events arriving meanwhile can settle it. When the backend gives up
  (``unknown``) or the batch is older than its whole retry schedule plus
  :attr:`Worker.in_doubt_horizon`, ``gateway.in_doubt`` decides: ``hold`` (default) records the
  row as ``sent`` with no event and never sends it again; ``resend`` sends it again. A false
  ``failed`` is never recorded for mail that may have gone out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from .backends import IN_FLIGHT
from .codec import decode_message
from .dead_letters import fail_unsent
from .domain import (
    Batch,
    ChunkReport,
    DeliveryResult,
    Event,
    Job,
    Message,
    Recipient,
    RecipientStatus,
    RecipientUpdate,
    RenderedMessage,
)
from .events import EventBuilder
from .job_failures import BatchUnreadable, SeenOnce, backoff, describe, failure_kind
from .plugins import resolve
from .recorder import OutcomeRecorder
from .render import Renderer, with_changed_headers
from .send_allowance import SendAllowance
from .suppression_rules import drops_for

log = logging.getLogger("postgate.worker")
_T = TypeVar("_T")

ACCEPTED_PAGE = 500
#: Most recipients one job can hold when ``gateway.job_size`` is 0 (one job per batch: Mailgun's limit).
LARGEST_JOB = 1000
#: Jobs whose transient failures in a row a worker remembers (for their backoff).
MAX_TRACKED_JOBS = 4096
#: Tests only: a worker process ends itself (``os._exit``) right after this many send results
#: arrived, before the ledger has them (the crash between the provider's answer and the write).
FAULT_EXIT_AFTER_RESULTS = "PGFAULT_EXIT_AFTER_RESULTS"


class ChunkOutcome:
    """The ledger updates and events one chunk produced, written together at its end."""

    __slots__ = ("updates", "events")

    def __init__(self) -> None:
        self.updates: list[RecipientUpdate] = []
        self.events: list[Event] = []


class _Tally:
    """What one chunk came to so far, for its :class:`ChunkReport`."""

    __slots__ = ("counts", "changed", "send_seconds", "failures")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.changed: set[int] = set()
        self.send_seconds: list[float] = []
        self.failures: list[tuple[int, str]] = []

    def add(self, updates: Sequence[RecipientUpdate]) -> None:
        for update in updates:
            status = update.status.value
            self.counts[status] = self.counts.get(status, 0) + 1
            self.changed.add(update.id)
            if update.status is RecipientStatus.FAILED:
                self.failures.append((update.id, update.error or ""))


class Worker:
    """A worker loop; several may share one queue, in one process or many."""

    #: Longest wait of one ``queue.receive`` call (the loop checks ``stop`` in between).
    receive_wait = 10.0  # a long poll; stopping interrupts it at once
    #: Pause after ``queue.receive`` failed (failed jobs back off by ``gateway.job_backoff``).
    error_delay = 5.0
    #: Seconds past a batch's retry schedule after which an unsettled in-doubt row is parked.
    in_doubt_horizon = 86400.0
    #: Seconds between two ``worker_heartbeat`` calls (the loop wakes at least every ``receive_wait``).
    heartbeat_seconds = 5.0

    def __init__(self, gateway: Any, name: str) -> None:
        self.gateway = gateway
        self.name = name
        self.owner = f"{name}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        settings = gateway.settings.gateway
        self.chunk_size = settings.chunk_size
        self.lease_seconds = settings.lease_seconds
        self.retry_delays = list(settings.retry_delays)
        self.jobs_per_worker = settings.jobs_per_worker
        self.job_size = settings.job_size
        self.public_url = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
        self.in_doubt = settings.in_doubt
        self._slots: asyncio.Semaphore | None = None
        self._batch_work: OrderedDict[tuple[str, int], asyncio.Future[Any]] = OrderedDict()
        self._recorder: OutcomeRecorder | None = None
        self._allowance: SendAllowance | None = None
        self._passes = 0
        self._exit_after = int(os.environ.get(FAULT_EXIT_AFTER_RESULTS) or 0)
        self._stop = asyncio.Event()
        self.job_max_failures = settings.job_max_failures
        self.job_backoff = settings.job_backoff
        self.job_backoff_max = settings.job_backoff_max
        self._tracebacks = SeenOnce()  # (job key, "Type: message") already logged with a traceback
        self._outages: dict[tuple[int, int | None, int | None], int] = {}  # transient failures in a row
        self.started_at = time.time()
        self._beat_at = float("-inf")

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Receive and process jobs until ``stop`` is set; jobs in hand are released, not lost."""
        self._stop = stop
        active: set[asyncio.Task[None]] = set()
        self.started_at = time.time()
        try:
            while not stop.is_set():
                self._heartbeat()
                free = self.job_room() - len(active)
                if free <= 0:
                    await asyncio.wait(active, timeout=self.receive_wait, return_when=asyncio.FIRST_COMPLETED)
                    continue
                jobs = await self._receive(free, stop)
                for job in jobs:
                    task = asyncio.create_task(self.process(job), name=f"{self.name}:job:{job.batch_id}")
                    active.add(task)
                    task.add_done_callback(active.discard)
            if active:
                await asyncio.gather(*active, return_exceptions=True)
            if self._allowance is not None:
                await self._allowance.close()
        finally:
            for task in active:
                task.cancel()
            for future in self._batch_work.values():
                future.cancel()
            self._batch_work.clear()
            self._heartbeat(stopping=True)

    def job_room(self) -> int:
        """Most jobs this loop holds at once: ``jobs_per_worker``, and never more than the delivery's
        ``max_rate`` can send within one lease (the rest stay in the queue for other processes)."""
        rate = self.gateway.delivery.max_rate
        if not rate:
            return self.jobs_per_worker
        sendable = rate * self.lease_seconds // (self.job_size or LARGEST_JOB)
        return max(1, min(self.jobs_per_worker, int(sendable)))

    def _heartbeat(self, stopping: bool = False) -> None:
        """Tell ``worker_heartbeat`` listeners this loop is alive (at most every ``heartbeat_seconds``)."""
        now = time.monotonic()
        if not stopping and now - self._beat_at < self.heartbeat_seconds:
            return
        self._beat_at = now
        self.gateway.notify("worker_heartbeat", gateway=self.gateway, worker=self.owner,
                            started_at=self.started_at, stopping=stopping)

    async def _receive(self, free: int, stop: asyncio.Event) -> list[Job]:
        receiving = asyncio.ensure_future(self.gateway.queue.receive(max_jobs=free, wait=self.receive_wait))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not receiving.done():
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving
            return []
        try:
            return receiving.result()
        except Exception:  # noqa: BLE001 - a queue outage must not end the loop
            log.exception("%s: receiving jobs failed", self.name)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.error_delay)
            return []

    async def process(self, job: Job) -> None:
        """Work on one job; a failure is retried with backoff or, when it cannot succeed or has
        failed ``job_max_failures`` times, ends in the dead-letter place (see ``job_failures``)."""
        try:
            await self._process(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the job is retried or dead-lettered, never dropped
            await self._job_failed(job, exc)
        else:
            self._outages.pop(_job_key(job), None)

    async def _job_failed(self, job: Job, exc: Exception) -> None:
        """One log line for the attempt (a traceback only the first time this failure is seen
        for this job in this process), then retry with backoff or dead-letter."""
        key = _job_key(job)
        kind = failure_kind(exc)
        reason = describe(exc)
        where = _job_name(job)
        traceback = exc if self._tracebacks.first((key, reason)) else None
        if kind == "transient":
            outages = self._outages[key] = self._outages.pop(key, 0) + 1
            if len(self._outages) > MAX_TRACKED_JOBS:  # jobs that moved to other workers
                self._outages.pop(next(iter(self._outages)))
            delay = backoff(outages, self.job_backoff, self.job_backoff_max)
            log.warning("%s: %s failed (transient, %d in a row): %s; retrying in %.1f s", self.name, where,
                        outages, reason, delay, exc_info=traceback)
            with contextlib.suppress(Exception):
                await self.gateway.queue.nack(job, delay)
            return
        self._outages.pop(key, None)
        failures = job.failures + 1
        if kind == "permanent" or failures >= self.job_max_failures:
            why = reason if kind == "permanent" else f"failed {failures} times, last: {reason}"
            log.error("%s: %s failed (attempt %d of %d): %s; giving up: dead-lettered", self.name, where,
                      failures, self.job_max_failures, reason, exc_info=traceback)
            await self._dead_letter(job, failures, why)
            return
        delay = backoff(failures, self.job_backoff, self.job_backoff_max)
        log.warning("%s: %s failed (attempt %d of %d): %s; retrying in %.1f s", self.name, where, failures,
                    self.job_max_failures, reason, delay, exc_info=traceback)
        try:
            await self.gateway.queue.fail(job, delay, reason)
        except Exception as error:  # noqa: BLE001 - the job reappears when its lease runs out
            log.warning("%s: could not release %s after its failure: %s", self.name, where, describe(error))

    async def _dead_letter(self, job: Job, failures: int, reason: str) -> None:
        """Fail the job's unsent rows with ``failed`` events, then move the job to the dead-letter
        place. If either step fails, the job is released and the next attempt gives up again."""
        where = _job_name(job)
        job.failures = failures
        try:
            failed, in_doubt = await fail_unsent(self.gateway, job.batch_id, job.first_id, job.last_id,
                                                 reason, public_url=self.public_url)
            await self.gateway.queue.dead_letter(job, reason)
        except Exception as exc:  # noqa: BLE001 - e.g. storage down: try again later
            delay = backoff(failures, self.job_backoff, self.job_backoff_max)
            log.warning("%s: could not dead-letter %s: %s; trying again in %.1f s", self.name, where,
                        describe(exc), delay)
            with contextlib.suppress(Exception):
                await self.gateway.queue.nack(job, delay)
            return
        self._tracebacks.forget(_job_key(job))
        doubt = f"; {in_doubt} recipients in doubt left as they are" if in_doubt else ""
        log.error("%s: %s dead-lettered: %d recipients failed%s (list: postgate jobs dead; "
                  "retry: postgate jobs retry ID)", self.name, where, failed, doubt)

    async def _process(self, job: Job) -> None:
        gateway = self.gateway
        # The batch row (and its stored message) is read once for the jobs of one batch.
        batch = await self._shared(("batch", job.batch_id), lambda: gateway.storage.get_batch(job.batch_id))
        if batch is None:  # purged: nothing left to do
            await gateway.queue.ack([job])
            return
        message, events = await self._shared(("open", batch.id), lambda: self._open(batch))
        now = time.time()
        if batch.deliver_at is not None and batch.deliver_at > now:
            await gateway.queue.nack(job, batch.deliver_at - now)
            return
        renderer = await self._shared(("renderer", batch.id), lambda: self._renderer(batch, message))
        # Each pass over a job claims under its own name: if the job comes back to this worker
        # while a slow pass still holds it, the passes never mistake each other's rows for their own.
        self._passes += 1
        owner = f"{self.owner}/{self._passes}"
        while not self._stop.is_set():
            rows = await gateway.storage.claim_recipients(
                batch.id, owner, self.lease_seconds, self.chunk_size, time.time(),
                job.first_id, job.last_id,
            )
            if not rows:
                break
            await self._chunk(batch, events, renderer, rows)
            await gateway.queue.extend(job)
        if self._stop.is_set():
            await gateway.queue.nack(job, 0.0)
            return
        pending, earliest = await gateway.storage.pending_recipients(batch.id, job.first_id, job.last_id)
        if pending == 0:
            await gateway.queue.ack([job])
        else:
            delay = 0.0 if earliest is None else max(0.0, earliest - time.time())
            await gateway.queue.nack(job, delay)

    async def _open(self, batch: Batch) -> tuple[Message, EventBuilder]:
        """The batch's decoded message and event builder, after its ``accepted`` events."""
        message = await asyncio.to_thread(_decode_batch, batch)
        events = EventBuilder(batch, message, public_url=self.public_url)
        if not batch.accepted_logged:
            # The whole batch's, even from a job of some of its rows: as at Mailgun, every
            # ``accepted`` of a batch comes before any of its deliveries (keys drop repeats).
            await self._log_accepted(batch, events)
            await self.gateway.storage.mark_batch(batch.id, accepted_logged=True)
        return message, events

    async def _shared(self, key: tuple[str, int], make: Callable[[], Awaitable[_T]]) -> _T:
        """``make()``'s result, made once for the jobs of one batch this loop works on (a batch
        is split into several jobs): they share the decoded message, the ``accepted`` events and
        the renderer. A failure is not kept: the next job tries again."""
        future = self._batch_work.get(key)
        if future is None:
            future = self._batch_work[key] = asyncio.ensure_future(make())
            while len(self._batch_work) > 3 * 2 * max(2, self.jobs_per_worker):  # 3 keys per batch
                self._batch_work.popitem(last=False)
        else:
            self._batch_work.move_to_end(key)
        try:
            return await asyncio.shield(future)
        except Exception:
            if self._batch_work.get(key) is future:
                del self._batch_work[key]
            raise

    async def _renderer(self, batch: Batch, message: Message) -> Renderer:
        """The batch's renderer, after ``prepare_template`` hooks changed its message once."""
        values: list[Callable[[Sequence[Recipient]], Sequence[Mapping[str, str]]]] = []
        for impl in reversed(self.gateway.pm.hook.prepare_template.get_hookimpls()):  # pluggy's order
            kwargs = {"gateway": self.gateway, "batch": batch, "message": message}
            prepared = await resolve(impl.function(**{name: kwargs[name] for name in impl.argnames}))
            if prepared is not None:
                message = prepared.message
                if prepared.values is not None:
                    values.append(prepared.values)
        if not values:
            return Renderer(batch, message, public_url=self.public_url)
        if len(values) == 1:
            return Renderer(batch, message, public_url=self.public_url, values=values[0])

        def merged(rows: Sequence[Recipient]) -> list[dict[str, str]]:
            filled = [fill(rows) for fill in values]
            return [{key: value for each in mappings for key, value in each.items()} for mappings in zip(*filled)]

        return Renderer(batch, message, public_url=self.public_url, values=merged)

    async def _log_accepted(self, batch: Batch, events: EventBuilder) -> None:
        """``accepted`` events for the batch's rows (keys make a repeat store nothing)."""
        after = 0
        while True:
            rows = await self.gateway.storage.list_recipients(batch.id, after, ACCEPTED_PAGE)
            if not rows:
                return
            await self.gateway.record_events([events.accepted(row) for row in rows])
            after = rows[-1].id

    # -- one chunk --------------------------------------------------------------------------

    async def _chunk(self, batch: Batch, events: EventBuilder, renderer: Renderer,
                     rows: list[Recipient]) -> None:
        started = time.monotonic()
        out = ChunkOutcome()
        tally = _Tally()
        storage = self.gateway.storage
        if storage.marks_dispatch:
            for row in rows:  # claimed from a worker that never handed it over: not in doubt
                if row.in_doubt and row.error != IN_FLIGHT:
                    row.in_doubt = False
        to_send = [row for row in rows if not row.in_doubt]
        doubtful = [row for row in rows if row.in_doubt]
        if doubtful and batch.testmode:
            to_send.extend(doubtful)
        elif doubtful:
            to_send.extend(await self._settle(batch, events, doubtful, out))
        sendable = await self._drop_and_test(batch, events, to_send, out)
        if sendable:
            rendered = await self._render(events, renderer, sendable, out)
            if rendered:
                await self._deliver(events, rendered, out, tally)
        if out.events:
            await self.gateway.record_events(out.events)
        if out.updates:
            await self.gateway.storage.update_recipients(out.updates)
        tally.add(out.updates)
        self.gateway.report_chunk(ChunkReport(
            batch_id=batch.id, domain=batch.domain, delivery=self.gateway.settings.backends.delivery,
            recipients=len(rows), counts=tally.counts, unsettled=sum(1 for row in rows if row.id not in tally.changed),
            seconds=time.monotonic() - started, send_seconds=tuple(tally.send_seconds),
            failures=tuple(tally.failures), message_id=batch.response_id))

    async def _settle(self, batch: Batch, events: EventBuilder, rows: list[Recipient],
                      out: ChunkOutcome) -> list[Recipient]:
        """Apply what the backend knows about in-doubt rows; return the rows to send again.

        ``unsent`` rows go again at once, with no event. Rows nobody can tell about (``unknown``
        from the backend, or still unsettled once the batch is older than its retry schedule
        plus :attr:`in_doubt_horizon`) follow ``gateway.in_doubt``: ``hold`` records them as
        ``sent`` (no event: Ghost sees neither a delivery nor a false failure) and never sends
        them again; ``resend`` sends them again. A false ``failed`` is never recorded for them.
        """
        delivery = self.gateway.delivery
        settled = await delivery.settle(rows)
        resend: list[Recipient] = []
        unknown: list[Recipient] = []
        start = max(batch.created_at, batch.deliver_at or 0.0)
        give_up = start + sum(self.retry_delays) + self.in_doubt_horizon
        for row in rows:
            result = settled.get(row.id)
            if result is None and delivery.resend_in_doubt:
                resend.append(row)
            elif result is None and time.time() > give_up:
                unknown.append(row)
            elif result is None:
                log.info("recipient %s of batch %s is in doubt; asking again later", row.id, batch.id)
            elif result.outcome == "unsent":
                resend.append(row)
            elif result.outcome == "unknown":
                unknown.append(row)
            else:
                self._apply(events, row, result, out)
        known = sum(1 for row in rows if row.id in settled and settled[row.id].outcome not in ("unsent", "unknown"))
        if known or resend:
            log.warning("%d recipient(s) of batch %s were in doubt after a stopped worker: %d settled from what "
                        "the delivery backend knows, %d sent again (it never had them)", len(rows), batch.id,
                        known, len(resend))
        if unknown and self.in_doubt == "resend":
            log.warning("%d recipient(s) of batch %s stayed in doubt (no provider answer, no event): sending "
                        "them again (gateway.in_doubt = resend; a recipient may get the message twice)",
                        len(unknown), batch.id)
            resend.extend(unknown)
        elif unknown:
            log.warning("%d recipient(s) of batch %s stayed in doubt (no provider answer, no event): recorded as "
                        "sent and not sent again (gateway.in_doubt = hold); no event is recorded for them",
                        len(unknown), batch.id)
            for row in unknown:
                out.updates.append(RecipientUpdate(
                    row.id, RecipientStatus.SENT, attempts=row.attempts + 1,
                    error="in doubt: the provider's answer was lost; held, not sent again (gateway.in_doubt = hold)"))
        return resend

    async def _drop_and_test(self, batch: Batch, events: EventBuilder, rows: list[Recipient],
                             out: ChunkOutcome) -> list[Recipient]:
        """Suppression drops (605/606/607) and test mode; return the rows to render and send."""
        if not rows:
            return []
        addresses = [row.address for row in rows]
        found = await self.gateway.storage.find_suppressions(batch.domain, addresses)
        drops = drops_for(found, addresses, batch.tags)
        sendable = []
        for row in rows:
            attempt = row.attempts + 1
            drop = drops.get(row.address)
            if drop is not None:
                out.updates.append(RecipientUpdate(row.id, RecipientStatus.SUPPRESSED, attempts=attempt,
                                                   error=f"{drop.code} {drop.reason}"))
                out.events.append(events.dropped(row, code=drop.code, reason=drop.reason,
                                                 description=drop.description, attempt=attempt))
            elif batch.testmode:
                out.updates.append(RecipientUpdate(row.id, RecipientStatus.DELIVERED, attempts=attempt))
                out.events.append(events.delivered(row, attempt=attempt))
            else:
                sendable.append(row)
        return sendable

    async def _render(self, events: EventBuilder, renderer: Renderer, rows: list[Recipient],
                      out: ChunkOutcome) -> list[tuple[Recipient, RenderedMessage]]:
        """Render rows (in a thread) and run ``prepare_message`` hooks over each message."""
        results = await asyncio.to_thread(renderer.render_all, rows)
        rendered = []
        for row, item in zip(rows, results):
            if isinstance(item, Exception):
                log.error("rendering recipient %s failed: %r", row.id, item)
                self._fail(events, row, out, code=550, reason="generic", error=f"render: {item}",
                           text=f"Rendering failed: {item}")
                continue
            try:
                item = await self._prepare(item)
            except Exception as exc:  # noqa: BLE001 - a hook failure delays, never loses
                log.exception("prepare_message failed for recipient %s", row.id)
                self._retry_or_fail(events, row, out, error=f"prepare_message: {exc}")
                continue
            rendered.append((row, item))
        return rendered

    async def _prepare(self, rendered: RenderedMessage) -> RenderedMessage:
        hook = self.gateway.pm.hook.prepare_message
        impls = hook.get_hookimpls()
        if not impls:
            return rendered
        original = rendered
        for impl in reversed(impls):  # pluggy's own call order
            kwargs = {"gateway": self.gateway, "rendered": rendered}
            result = await resolve(impl.function(**{name: kwargs[name] for name in impl.argnames}))
            if result is not None:
                rendered = result
        if rendered.raw is original.raw and rendered.headers != original.headers:
            rendered = with_changed_headers(rendered, original.headers)
        return rendered

    async def _deliver(self, events: EventBuilder, rendered: list[tuple[Recipient, RenderedMessage]],
                       out: ChunkOutcome, tally: _Tally) -> None:
        """Send the rendered messages; each answer is recorded as it arrives (group commits)."""
        delivery = self.gateway.delivery
        parts = _split(rendered, max(1, delivery.concurrency), _part_limit(delivery.max_rate))
        done = await asyncio.gather(*(self._send_part(events, part, out, tally) for part in parts), return_exceptions=True)
        released = sum(1 for update in out.updates if update.status is RecipientStatus.QUEUED)
        if released:
            log.info("%s: stopping; %d claimed recipients not sent yet went back to the queue", self.name, released)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _send_part(self, events: EventBuilder, part: list[tuple[Recipient, RenderedMessage]],
                         out: ChunkOutcome, tally: _Tally) -> None:
        delivery = self.gateway.delivery
        if self._slots is None:
            self._slots = asyncio.Semaphore(max(1, delivery.concurrency))
        sink = _PartSink(self, events, [row for row, _ in part], tally)
        try:
            async with self._slots:
                rate = delivery.max_rate
                grant = await self.allowance.take(len(part), rate) if rate else None
                if self._stop.is_set():  # stopping: hand nothing more to the provider
                    if grant is not None:
                        await self.allowance.done(grant)
                    self._release_unsent(part, out)
                    return
                try:
                    await delivery.send_each([message for _, message in part], sink)
                finally:
                    if grant is not None:
                        await self.allowance.done(grant)
                    await sink.stored()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the unanswered messages are retried
            if sink.failed is not None:
                # The answers could not be recorded: unanswered rows may have gone out. They stay
                # 'sending' and are settled in doubt after their lease, never blindly retried.
                raise
            missing = sink.unanswered()
            log.warning("delivery send failed for %d messages: %r", len(missing), exc)
            for row in missing:
                self._retry_or_fail(events, row, out, error=f"send: {exc}")
            return
        missing = sink.unanswered()
        if missing:
            log.warning("delivery returned no result for %d of %d messages; they are retried", len(missing), len(part))
            for row in missing:
                self._retry_or_fail(events, row, out, error="send: no result from the delivery backend")

    @property
    def recorder(self) -> OutcomeRecorder:
        if self._recorder is None:
            self._recorder = OutcomeRecorder(self.gateway, self.lease_seconds,
                                             retry_for=max(30.0, self.lease_seconds))
        return self._recorder

    @property
    def allowance(self) -> SendAllowance:
        """This loop's grants of the delivery's rate, shared through storage with every worker."""
        if self._allowance is None:
            self._allowance = SendAllowance(self.gateway.storage, f"delivery:{self.gateway.settings.backends.delivery}",
                                            self._stop.is_set)
        return self._allowance

    def _release_unsent(self, part: list[tuple[Recipient, RenderedMessage]], out: ChunkOutcome) -> None:
        """Put rows back in the queue (``queued``, attempts unchanged) that the worker claimed but
        never handed to the provider because it is stopping: the next worker takes them at once,
        instead of finding them ``sending`` until their lease ends."""
        out.updates.extend(RecipientUpdate(row.id, RecipientStatus.QUEUED) for row, _ in part)

    # -- outcomes ---------------------------------------------------------------------------

    def _apply(self, events: EventBuilder, row: Recipient, result: DeliveryResult, out: ChunkOutcome) -> None:
        """Turn one delivery result into a ledger update and events."""
        attempt = row.attempts + 1
        if result.outcome == "unknown":
            # Maybe sent: no ledger change, so the row stays leased and comes back in doubt.
            log.warning("recipient %s: outcome unknown (%s); settled before any resend", row.id, result.message)
            return
        if result.outcome == "unsent":
            self._retry_or_fail(events, row, out, error=f"not sent: {result.message}")
            return
        if result.outcome == "delivered":
            out.updates.append(RecipientUpdate(row.id, RecipientStatus.DELIVERED, attempts=attempt,
                                               provider_id=result.provider_id))
            out.events.append(events.delivered(row, attempt=attempt, message=result.message or "OK"))
        elif result.outcome == "sent":
            out.updates.append(RecipientUpdate(row.id, RecipientStatus.SENT, attempts=attempt,
                                               provider_id=result.provider_id))
        elif result.permanent:
            self._fail(events, row, out, code=result.code or 550, reason=result.reason or "generic",
                       error=_error_text(result), text=result.message, enhanced=result.enhanced_code or "",
                       provider_id=result.provider_id)
        elif row.attempts < len(self.retry_delays):
            delay = self.retry_delays[row.attempts]
            out.updates.append(RecipientUpdate(row.id, RecipientStatus.RETRY, attempts=attempt,
                                               next_attempt_at=time.time() + delay,
                                               provider_id=result.provider_id, error=_error_text(result)))
            out.events.append(events.failed(row, permanent=False, code=result.code or 451,
                                            message=result.message, enhanced_code=result.enhanced_code or "",
                                            reason=result.reason or "generic", attempt=attempt,
                                            retry_seconds=delay))
        else:
            self._fail(events, row, out, code=result.code or 451, reason="old", error=_error_text(result),
                       text=result.message, enhanced=result.enhanced_code or "", provider_id=result.provider_id)
        for followup in result.followups:
            if followup == "complained":
                out.events.append(events.complained(row))
            else:
                log.warning("unknown follow-up %r from the delivery backend", followup)

    def _fail(self, events: EventBuilder, row: Recipient, out: ChunkOutcome, *, code: int, reason: str,
              error: str, text: str, enhanced: str = "", provider_id: str | None = None) -> None:
        attempt = row.attempts + 1
        out.updates.append(RecipientUpdate(row.id, RecipientStatus.FAILED, attempts=attempt,
                                           provider_id=provider_id, error=error))
        out.events.append(events.failed(row, permanent=True, code=code, message=text, enhanced_code=enhanced,
                                        reason=reason, attempt=attempt))

    def _retry_or_fail(self, events: EventBuilder, row: Recipient, out: ChunkOutcome, *, error: str) -> None:
        """A failure that says nothing about the recipient: retry silently, fail when retries run out."""
        if row.attempts < len(self.retry_delays):
            out.updates.append(RecipientUpdate(row.id, RecipientStatus.RETRY, attempts=row.attempts + 1,
                                               next_attempt_at=time.time() + self.retry_delays[row.attempts],
                                               error=error))
        else:
            self._fail(events, row, out, code=421, reason="old", error=error, text=error)


def _decode_batch(batch: Batch) -> Message:
    """The batch's stored message; :class:`BatchUnreadable` if it cannot be decoded."""
    try:
        return decode_message(batch.content)
    except Exception as exc:  # noqa: BLE001 - whatever broke, no attempt can succeed
        raise BatchUnreadable(f"the stored message of batch {batch.id} cannot be decoded ({describe(exc)})") \
            from exc


def _job_key(job: Job) -> tuple[int, int | None, int | None]:
    return (job.batch_id, job.first_id, job.last_id)


def _job_name(job: Job) -> str:
    rows = "" if job.first_id is None else f" rows {job.first_id}-{job.last_id}"
    return f"job {job.id} (batch {job.batch_id}{rows})"


class _PartSink:
    """The :class:`~postgate.backends.OutcomeSink` of one send call: each answer becomes a ledger
    update and events at once, stored by the worker's :class:`OutcomeRecorder`."""

    def __init__(self, worker: Worker, events: EventBuilder, rows: list[Recipient], tally: _Tally) -> None:
        self.worker = worker
        self.tally = tally
        self.handed: dict[int, float] = {}  # recipient id -> monotonic time it went to the backend
        self.events = events
        self.rows = {row.id: row for row in rows}
        self.answered: set[int] = set()
        self.lost: set[int] = set()  # leases taken over by another worker: neither sent nor updated here
        self.failed: BaseException | None = None  # recording failed: nothing more may be sent
        self.recording: set[asyncio.Future[Any]] = set()  # answers handed over, not stored yet
        # Every send is cleared against the lease, even where the backend can settle a resend
        # (the outbox): a worker that fell behind its lease must not send a row another took over.
        self.marks = worker.gateway.storage.marks_dispatch

    async def dispatching(self, recipient_ids: Sequence[int]) -> list[int]:
        ids = [i for i in recipient_ids if i in self.rows]
        if self.failed is not None:
            raise self.failed
        if not self.marks:
            self._handed(ids)
            return ids
        by_owner: dict[str, list[int]] = {}
        for row_id in ids:  # the claim's lease owner (one per pass over a job)
            by_owner.setdefault(self.rows[row_id].lease_owner or "", []).append(row_id)
        cleared: list[int] = []
        try:
            for owner, group in by_owner.items():
                cleared += await self.worker.recorder.dispatched(group, owner)
        except Exception as exc:
            self.failed = exc
            raise
        self._handed(cleared)
        lost = set(ids) - set(cleared)
        if lost:
            self.lost |= lost
            log.warning("%d recipient(s) not sent: their lease expired and another worker took them over "
                        "(raise gateway.lease_seconds if this repeats)", len(lost))
        return cleared

    async def result(self, result: DeliveryResult) -> None:
        row = self.rows.get(result.recipient_id)
        if row is None or row.id in self.answered:
            log.warning("delivery returned a result for recipient %s, which was not in the call (or twice); "
                        "ignored", result.recipient_id)
            return
        self.answered.add(row.id)
        worker = self.worker
        if worker._exit_after:
            worker._exit_after -= 1
            if worker._exit_after == 0:
                log.error("%s set: exiting right after a send result, before the ledger write", FAULT_EXIT_AFTER_RESULTS)
                logging.shutdown()
                os._exit(70)
        handed = self.handed.get(row.id)
        if handed is not None:
            self.tally.send_seconds.append(time.monotonic() - handed)
        out = ChunkOutcome()
        worker._apply(self.events, row, result, out)
        if not out.updates and not out.events:
            return
        # Queued for the next group commit at once, before the delivery frees the call's slot: a
        # send started after this one's answer is marked in the same commit or a later one, after
        # the answer, so marked-but-unanswered rows never outnumber the calls in flight. The send
        # goes on meanwhile; :meth:`stored` waits for the commits (a failure stops further sends).
        stored = worker.recorder.queue(out.updates, out.events)
        self.recording.add(stored)
        stored.add_done_callback(lambda done: self._recorded(done, out.updates))

    def _recorded(self, done: asyncio.Future[Any], updates: list[RecipientUpdate]) -> None:
        self.recording.discard(done)
        if done.cancelled():
            return
        if done.exception() is not None:
            self.failed = self.failed or done.exception()
            return
        self.tally.add(updates)

    async def stored(self) -> None:
        """Wait until every answer handed over is stored; raise if one could not be."""
        if self.recording:
            await asyncio.gather(*list(self.recording), return_exceptions=True)
        if self.failed is not None:
            raise self.failed

    def _handed(self, ids: Sequence[int]) -> None:
        now = time.monotonic()
        for row_id in ids:
            self.handed[row_id] = now

    def unanswered(self) -> list[Recipient]:
        return [row for row_id, row in self.rows.items() if row_id not in self.answered and row_id not in self.lost]


def _part_limit(max_rate: float | None) -> int | None:
    """Largest send call under a rate limit: one second's worth of tokens."""
    return max(1, int(max_rate)) if max_rate else None


def _split(items: list[Any], parts: int, limit: int | None) -> list[list[Any]]:
    """``items`` in up to ``parts`` contiguous slices (more if ``limit`` caps their size)."""
    size = -(-len(items) // parts)
    if limit is not None:
        size = min(size, limit)
    size = max(1, size)
    return [items[i:i + size] for i in range(0, len(items), size)]


def _error_text(result: DeliveryResult) -> str:
    """``code enhanced message``, without repeating an enhanced code the message starts with."""
    message = result.message or ""
    enhanced = result.enhanced_code if result.enhanced_code and not message.startswith(result.enhanced_code) else ""
    return " ".join(str(part) for part in (result.code, enhanced, message) if part)
