"""The ``sqs`` queue backend: Postgate jobs as small references on an Amazon SQS standard queue.

A message body is a JSON reference to stored work, never the mail itself::

    {"batch_id": 12, "first_id": 1001, "last_id": 1050, "not_before": null}

SQS is at-least-once; the recipient ledger makes sending exactly-once, so a job received twice (a
lease that ran out, a retried ``SendMessageBatch``) costs a little work and never a second mail.

Leases are SQS visibility: a received job stays hidden for ``visibility_timeout`` seconds; the
worker renews it between chunks (:meth:`SqsQueue.extend`) and, unless turned off, a heartbeat task
per leased job renews it every third of the timeout until the job is acknowledged or released, so a
slow chunk never reappears on another worker while its owner is alive. A worker that dies stops
renewing; the job reappears and another worker resumes the unsent rows.

Redelivery and dead letters: a job whose lease runs out again and again (its worker crashed or
hung on it) is moved by the queue's redrive policy to the dead-letter queue after
``maxReceiveCount`` receives. A job a worker *releases* on purpose (:meth:`SqsQueue.nack`: rows to
retry later, a scheduled batch) must come back instead, so when another visibility change would
bring it near ``maxReceiveCount``, or the delay exceeds SQS's 12-hour visibility limit, the job is
re-posted as a fresh message (sent first, then the old one deleted) carrying its ``not_before``.

Failed attempts (:meth:`SqsQueue.fail`) are counted in the body (``failures``): the job is re-posted
with the count one higher, so the count survives any number of receives and re-posts. A job the
worker gives up on (:meth:`SqsQueue.dead_letter`) is sent to the dead-letter queue with its reason
and time, then deleted from the jobs queue. :meth:`SqsQueue.list_dead` peeks at the dead-letter
queue (each message is hidden for ``dead_letter_peek_seconds`` while the scan runs, then released),
and :meth:`SqsQueue.redrive` puts one back on the jobs queue with its count reset. Jobs moved there
by the redrive policy are listed too (without a reason of their own).

Every boto3 call runs in the plugin's :class:`~postgate.blocking.BlockingPool`, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from postgate import ConfigError, DeadJob, Job, Queue
from postgate.blocking import BlockingPool

from .settings import SqsSettings

if TYPE_CHECKING:
    from postgate import Gateway

log = logging.getLogger("postgate.sqs")

#: Entries per SendMessageBatch / DeleteMessageBatch / ChangeMessageVisibilityBatch call.
MAX_BATCH = 10
#: Longest ``DelaySeconds`` SQS accepts.
MAX_DELAY = 900
#: Longest visibility SQS accepts (12 hours), counted from the receive, renewals included.
MAX_VISIBILITY = 43200
#: Longest hide this backend asks for, measured from the receive: 12 hours less a safety margin.
HIDE_LIMIT = MAX_VISIBILITY - 300
#: Error codes that mean "this receipt handle no longer holds the message" (lease lost or done).
LOST_LEASE_CODES = frozenset({
    "ReceiptHandleIsInvalid",
    "InvalidReceiptHandle",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
})
#: Error codes that mean the queue itself is missing.
MISSING_QUEUE_CODES = frozenset({
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
})


class SqsQueueError(RuntimeError):
    """SQS refused part of a call that must succeed whole (a job that could not be stored)."""


@dataclass(slots=True)
class _Lease:
    """What this process knows about one received message while it is leased."""

    job: Job
    receive_count: int  # ApproximateReceiveCount of this message (resets when re-posted)
    received_at: float  # time.monotonic() of the receive: SQS caps visibility 12 h from it
    heartbeat: asyncio.Task[None] | None = None


def encode_job(job: Job, previous_attempts: int = 0, **extra: Any) -> str:
    """The message body for ``job``: a reference to stored rows, never their content.

    ``extra`` adds fields (a dead letter's ``reason`` and ``dead_at``)."""
    body: dict[str, Any] = {
        "batch_id": job.batch_id,
        "first_id": job.first_id,
        "last_id": job.last_id,
        "not_before": job.not_before,
    }
    if previous_attempts:
        body["previous_attempts"] = previous_attempts
    if job.failures:
        body["failures"] = job.failures
    body.update(extra)
    return json.dumps(body, separators=(",", ":"))


def decode_job(body: str) -> tuple[Job, int]:
    """The job a message body refers to and the attempts made before it was last re-posted.

    Raises ``ValueError`` for a body that is not a Postgate job reference.
    """
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("batch_id"), int):
        raise ValueError("not a Postgate job reference")

    def optional_int(key: str) -> int | None:
        value = data.get(key)
        if value is not None and not isinstance(value, int):
            raise ValueError(f"{key} must be an integer")
        return value

    not_before = data.get("not_before")
    if not_before is not None and not isinstance(not_before, (int, float)):
        raise ValueError("not_before must be a number")
    previous = optional_int("previous_attempts") or 0
    job = Job(batch_id=data["batch_id"], first_id=optional_int("first_id"),
              last_id=optional_int("last_id"),
              not_before=None if not_before is None else float(not_before),
              failures=max(0, optional_int("failures") or 0))
    return job, int(previous)


def decode_dead(message: dict[str, Any]) -> DeadJob:
    """A message of the dead-letter queue as a :class:`DeadJob` (``ValueError`` if foreign)."""
    job, _ = decode_job(message.get("Body", ""))
    data = json.loads(message["Body"])
    job.id = message.get("MessageId")
    reason = data.get("reason")
    dead_at = data.get("dead_at")
    if not isinstance(reason, str):
        reason = ("moved by the SQS redrive policy: received too often without completion "
                  "(a worker died or hung)")
    if not isinstance(dead_at, (int, float)) or isinstance(dead_at, bool):
        dead_at = None
    return DeadJob(id=str(message.get("MessageId")), job=job, failures=job.failures, reason=reason,
                   dead_at=None if dead_at is None else float(dead_at))


def _groups(items: Sequence[Any], size: int = MAX_BATCH) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _seconds(value: float, ceiling: int) -> int:
    """Whole seconds for an SQS parameter: rounded up (never earlier than asked), capped."""
    return min(ceiling, max(0, math.ceil(value - 1e-6)))


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class SqsQueue(Queue):
    """:class:`~postgate.backends.Queue` on an Amazon SQS standard queue."""

    name = "sqs"
    #: Pause between short polls while :meth:`receive` waits less than a second (or
    #: ``wait_seconds`` is 0); sub-second waits cannot be long polls, SQS counts whole seconds.
    short_poll_interval = 0.1

    def __init__(self, gateway: Gateway, settings: SqsSettings | None = None) -> None:
        super().__init__(gateway)
        self.settings: SqsSettings = settings or gateway.plugin_settings("sqs")
        if not self.settings.queue_url:
            raise ConfigError(
                'the sqs queue backend needs a queue URL: set queue_url in [plugins.sqs] '
                "(or POSTGATE_PLUGINS__SQS__QUEUE_URL), e.g. "
                '"https://sqs.eu-west-1.amazonaws.com/123456789012/postgate-jobs"'
            )
        self.queue_url: str = self.settings.queue_url
        self.visibility = self.settings.visibility_timeout
        #: The source queue's ``maxReceiveCount`` (``None``: no redrive policy, or not read yet).
        self.max_receive_count: int | None = None
        self._policy_read = False
        self.client: Any = None
        self.pool: BlockingPool | None = None
        self._leases: dict[str, _Lease] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._dead_letters_seen: int | None = None
        self._dead_letter_arn: str | None = None
        self._dead_letter_url: str | None = self.settings.dead_letter_queue_url

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self.client is not None:
            return
        self.pool = BlockingPool(self.settings.threads, "postgate-sqs")
        try:
            self.client = await self.pool.run(self._make_client)
        except Exception as exc:
            await self.stop()
            if type(exc).__name__ == "NoRegionError":
                raise ConfigError("the sqs queue backend needs an AWS region: set region in "
                                  "[plugins.sqs] or AWS_DEFAULT_REGION") from None
            raise
        try:
            await self._read_redrive_policy()
        except Exception as exc:
            if _error_code(exc) in MISSING_QUEUE_CODES:
                await self.stop()
                raise ConfigError(
                    f"the SQS queue {self.queue_url} does not exist; create it (with a redrive policy "
                    "to a dead-letter queue) or fix queue_url in [plugins.sqs]"
                ) from None
            # Reachability is readiness's business; the policy is read again by check().
            log.warning("could not read the attributes of SQS queue %s: %r", self.queue_url, exc)

    def _make_client(self) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=10,
            read_timeout=self.settings.wait_seconds + 20,  # a long poll must not time out
            max_pool_connections=self.settings.threads,
            retries={"mode": "standard", "max_attempts": 3},
        )
        return boto3.session.Session().client(
            "sqs", region_name=self.settings.resolved_region(), endpoint_url=self.settings.endpoint_url,
            config=config,
        )

    async def stop(self) -> None:
        leases, self._leases = list(self._leases.values()), {}
        beats = [lease.heartbeat for lease in leases if lease.heartbeat is not None]
        for beat in beats:
            beat.cancel()
        if beats:
            await asyncio.gather(*beats, return_exceptions=True)
        if self._background:
            await asyncio.wait(list(self._background), timeout=self.settings.wait_seconds + 5)
        if leases and self.client is not None:
            # Jobs still leased here lost their worker (it was cancelled): let others have them now.
            await self._release([lease.job.receipt for lease in leases])
        client, self.client = self.client, None
        pool, self.pool = self.pool, None
        if pool is not None:
            if client is not None:
                with contextlib.suppress(Exception):
                    await pool.run(client.close)
            pool.shutdown()

    async def check(self) -> None:
        await self._read_redrive_policy()

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        if self.client is None or self.pool is None:
            raise RuntimeError("the sqs queue is not started")
        return await self.pool.run(getattr(self.client, method), **kwargs)

    async def _read_redrive_policy(self) -> None:
        response = await self._call("get_queue_attributes", QueueUrl=self.queue_url,
                                    AttributeNames=["QueueArn", "RedrivePolicy"])
        policy = response.get("Attributes", {}).get("RedrivePolicy")
        count = None
        if policy:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                parsed = json.loads(policy)
                self._dead_letter_arn = str(parsed.get("deadLetterTargetArn") or "") or None
                count = int(parsed["maxReceiveCount"])
        self.max_receive_count = count
        self._policy_read = True

    # -- put --------------------------------------------------------------------------------

    async def put(self, jobs: Sequence[Job]) -> None:
        """Send the jobs in SendMessageBatch calls of 10; raise unless every one was stored."""
        if not jobs:
            return
        now = time.time()
        entries = [self._entry(str(index), job, now) for index, job in enumerate(jobs)]
        results = await asyncio.gather(*(self._send_batch(list(group)) for group in _groups(entries)),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _entry(self, entry_id: str, job: Job, now: float, previous_attempts: int = 0) -> dict[str, Any]:
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": encode_job(job, previous_attempts)}
        if job.not_before is not None and job.not_before > now:
            delay = _seconds(job.not_before - now, MAX_DELAY)
            if delay:
                entry["DelaySeconds"] = delay
        return entry

    async def _send_batch(self, entries: list[dict[str, Any]]) -> None:
        response = await self._call("send_message_batch", QueueUrl=self.queue_url, Entries=entries)
        failed = response.get("Failed") or []
        retry = [f for f in failed if not f.get("SenderFault")]
        if retry and len(retry) == len(failed):  # SQS-side failures only: one more try
            by_id = {entry["Id"]: entry for entry in entries}
            response = await self._call("send_message_batch", QueueUrl=self.queue_url,
                                        Entries=[by_id[f["Id"]] for f in retry])
            failed = response.get("Failed") or []
        if failed:
            details = "; ".join(f"{f.get('Code')}: {f.get('Message', '')}".strip() for f in failed[:3])
            raise SqsQueueError(f"SQS did not store {len(failed)} of {len(entries)} jobs ({details})")

    # -- receive ----------------------------------------------------------------------------

    async def receive(self, max_jobs: int, wait: float) -> list[Job]:
        """Long-poll for up to ``max_jobs`` due jobs, waiting up to ``wait`` seconds for the first."""
        if max_jobs <= 0:
            return []
        if not self._policy_read:
            with contextlib.suppress(Exception):
                await self._read_redrive_policy()
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            # SQS long-polls whole seconds (a few milliseconds over are fine); a remainder under a
            # second is spent short-polling.
            seconds = min(int(deadline - time.monotonic() + 0.05), self.settings.wait_seconds)
            jobs = await self._receive_round(max_jobs, seconds)
            if jobs:
                return jobs
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            if seconds == 0:
                await asyncio.sleep(min(self.short_poll_interval, remaining))

    async def _receive_round(self, max_jobs: int, wait_seconds: int) -> list[Job]:
        """One long poll, then immediate receives while full batches keep coming."""
        messages: list[dict[str, Any]] = []
        try:
            while len(messages) < max_jobs:
                want = min(self.settings.max_messages, max_jobs - len(messages))
                got = await self._receive_messages(want, wait_seconds if not messages else 0)
                messages.extend(got)
                if len(got) < want:
                    break
        except asyncio.CancelledError:
            self._track(self._release([m["ReceiptHandle"] for m in messages]))
            raise
        return await self._lease_all(messages)

    async def _receive_messages(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        future = asyncio.ensure_future(self._call(
            "receive_message", QueueUrl=self.queue_url, MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_seconds, VisibilityTimeout=self.visibility,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        ))
        try:
            response = await asyncio.shield(future)
        except asyncio.CancelledError:
            # The call goes on in its thread; whatever it leases must not stay hidden for a
            # whole visibility timeout because nobody is left to work on it.
            self._track(self._release_abandoned(future))
            raise
        return response.get("Messages") or []

    async def _release_abandoned(self, future: asyncio.Future[dict[str, Any]]) -> None:
        try:
            response = await future
        except Exception:  # noqa: BLE001 - nothing was leased
            return
        await self._release([m["ReceiptHandle"] for m in response.get("Messages") or []])

    async def _release(self, handles: Sequence[str]) -> None:
        """Make messages nobody here will work on visible again at once (best effort)."""
        if not handles:
            return
        try:
            await self._change_visibility_batch([(handle, 0) for handle in handles])
        except Exception as exc:  # noqa: BLE001 - they reappear after the visibility timeout
            log.warning("could not release %d received jobs: %r", len(handles), exc)

    async def _lease_all(self, messages: list[dict[str, Any]]) -> list[Job]:
        now = time.time()
        due: list[tuple[Job, int]] = []
        hide: list[tuple[str, int]] = []
        repost: list[tuple[Job, int]] = []
        for message in messages:
            count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1") or 1)
            try:
                job, previous = decode_job(message.get("Body", ""))
            except ValueError as exc:
                log.error("SQS message %s on %s is not a Postgate job (%s); left for the redrive policy "
                          "(received %d times)", message.get("MessageId"), self.queue_url, exc, count)
                continue
            job.id = message.get("MessageId")
            job.receipt = message["ReceiptHandle"]
            job.attempts = previous + count
            if job.not_before is not None and job.not_before > now:
                # Delays longer than SQS's 15 minutes: hold the job back until it is due.
                remaining = job.not_before - now
                if self._near_redrive(count):
                    repost.append((job, job.attempts))
                else:
                    hide.append((job.receipt, max(1, _seconds(remaining, HIDE_LIMIT))))
                continue
            due.append((job, count))
        try:
            if hide:
                await self._change_visibility_batch(hide)
            if repost:
                await self._repost([job for job, _ in repost], [job.not_before or now for job, _ in repost],
                                   [previous for _, previous in repost])
        except asyncio.CancelledError:
            self._track(self._release([job.receipt for job, _ in due]))
            raise
        except Exception as exc:  # noqa: BLE001 - they reappear after the lease and are held again
            log.warning("could not hold back %d jobs that are not due yet: %r", len(hide) + len(repost), exc)
        for job, count in due:  # no await from here on: a leased job always reaches the caller
            self._warn_if_poisoned(job, count)
            self._lease(job, count)
        return [job for job, _ in due]

    def _near_redrive(self, receive_count: int) -> bool:
        """Whether one more receive of this message could hand it to the dead-letter queue."""
        return self.max_receive_count is not None and receive_count >= self.max_receive_count - 1

    def _warn_if_poisoned(self, job: Job, receive_count: int) -> None:
        if job.attempts < self.settings.max_receive_count_warning:
            return
        rows = "" if job.first_id is None else f", rows {job.first_id}-{job.last_id}"
        if self.max_receive_count is not None:
            fate = (f"; after {self.max_receive_count} receives without completion SQS moves it to the "
                    f"dead-letter queue (this message: {receive_count})")
        else:
            fate = "; the queue has no redrive policy, so it is retried for as long as SQS keeps it"
        log.warning("job %s (batch %s%s) received %d times%s", job.id, job.batch_id, rows, job.attempts, fate)

    # -- leases -----------------------------------------------------------------------------

    def _lease(self, job: Job, receive_count: int) -> None:
        lease = _Lease(job, receive_count, time.monotonic())
        if self.settings.heartbeat:
            lease.heartbeat = asyncio.create_task(self._heartbeat(job), name=f"sqs-heartbeat:{job.id}")
        self._leases[job.receipt] = lease

    async def _end_lease(self, job: Job) -> _Lease | None:
        """Forget the lease and stop its heartbeat, waiting out a renewal already under way."""
        lease = self._leases.pop(job.receipt, None) if job.receipt is not None else None
        if lease is not None and lease.heartbeat is not None:
            lease.heartbeat.cancel()
            await asyncio.gather(lease.heartbeat, return_exceptions=True)
        return lease

    async def _heartbeat(self, job: Job) -> None:
        """Keep ``job`` hidden while it is leased here: renew every third of the timeout."""
        interval = max(1.0, self.visibility / 3)
        give_up = time.monotonic() + self.settings.heartbeat_limit
        while time.monotonic() < give_up:
            await asyncio.sleep(interval)
            renewal = asyncio.ensure_future(self._change_visibility(job.receipt, self.visibility))
            try:
                if not await asyncio.shield(renewal):
                    return
            except asyncio.CancelledError:
                # Let a renewal already sent land first, so it cannot undo the ack or nack
                # that is cancelling this heartbeat.
                await asyncio.gather(renewal, return_exceptions=True)
                raise
            except Exception as exc:  # noqa: BLE001 - try again at the next beat
                log.warning("heartbeat of job %s (batch %s) failed: %r", job.id, job.batch_id, exc)
        log.warning("job %s (batch %s) leased for over %.0f s: its heartbeat stops; the job reappears "
                    "after the visibility timeout unless the worker renews it", job.id, job.batch_id,
                    self.settings.heartbeat_limit)

    async def _change_visibility(self, receipt: str, seconds: int, strict: bool = False) -> bool:
        """Set one message's visibility; ``False`` if the receipt no longer holds it.

        Unless ``strict``, a renewal SQS refuses because the message has been hidden for 12
        hours since its receive is logged and reported as ``False`` too.
        """
        try:
            await self._call("change_message_visibility", QueueUrl=self.queue_url, ReceiptHandle=receipt,
                             VisibilityTimeout=seconds)
        except Exception as exc:
            code = _error_code(exc)
            if code in LOST_LEASE_CODES:
                log.warning("an SQS lease was lost before it could be renewed (%s)", code)
                return False
            if code == "InvalidParameterValue" and not strict:
                log.warning("SQS refused to renew a lease: %s", exc)
                return False
            raise
        return True

    async def _change_visibility_batch(self, items: Sequence[tuple[str, int]]) -> None:
        for group in _groups(items):
            entries = [{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                       for i, (handle, seconds) in enumerate(group)]
            response = await self._call("change_message_visibility_batch", QueueUrl=self.queue_url,
                                        Entries=entries)
            for failure in response.get("Failed") or []:
                log.warning("could not change the visibility of an SQS message: %s %s",
                            failure.get("Code"), failure.get("Message", ""))

    async def _repost(self, jobs: Sequence[Job], not_before: Sequence[float],
                      previous_attempts: Sequence[int]) -> None:
        """Replace messages by fresh copies (new receive count): send first, then delete."""
        now = time.time()
        entries = []
        for index, (job, due, previous) in enumerate(zip(jobs, not_before, previous_attempts, strict=True)):
            fresh = Job(batch_id=job.batch_id, first_id=job.first_id, last_id=job.last_id,
                        not_before=due if due > now else None, failures=job.failures)
            entries.append(self._entry(str(index), fresh, now, previous))
        for group in _groups(entries):
            await self._send_batch(list(group))
        await self._delete([job.receipt for job in jobs])

    # -- extend, ack, nack ------------------------------------------------------------------

    async def extend(self, job: Job) -> None:
        """Renew the job's visibility for another ``visibility_timeout`` seconds."""
        await self._change_visibility(job.receipt, self.visibility)

    async def ack(self, jobs: Sequence[Job]) -> None:
        """Delete finished jobs (DeleteMessageBatch, 10 a call); per-entry failures are logged."""
        handles = []
        for job in jobs:
            await self._end_lease(job)
            if job.receipt is not None:
                handles.append(job.receipt)
        await self._delete(handles)

    async def _delete(self, handles: Sequence[str]) -> None:
        for group in _groups(list(handles)):
            entries = [{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(group)]
            response = await self._call("delete_message_batch", QueueUrl=self.queue_url, Entries=entries)
            for failure in response.get("Failed") or []:
                log.warning("SQS did not delete a finished job: %s %s (it may be received again; "
                            "its rows are terminal, so nothing is sent twice)",
                            failure.get("Code"), failure.get("Message", ""))

    async def nack(self, job: Job, delay: float) -> None:
        """Release the job so it is received again after ``delay`` seconds."""
        lease = await self._end_lease(job)
        if job.receipt is None:
            raise ValueError("nack() needs a job received from this queue")
        if lease is not None:
            receive_count = lease.receive_count
            limit = HIDE_LIMIT - (time.monotonic() - lease.received_at)
        else:  # received by an earlier instance of this backend: assume the worst
            receive_count, limit = job.attempts, 0.0
        delay = max(0.0, delay)
        due = time.time() + delay
        if delay <= limit and not self._near_redrive(receive_count):
            try:
                await self._change_visibility(job.receipt, _seconds(delay, MAX_VISIBILITY), strict=True)
                return
            except Exception as exc:
                if _error_code(exc) != "InvalidParameterValue":
                    raise
        # A deliberate release must not count towards the dead-letter queue, and SQS cannot hide
        # a message past 12 hours from its receive: post a fresh copy that knows when it is due.
        await self._repost([job], [due], [job.attempts])

    # -- failures and dead letters ----------------------------------------------------------

    async def fail(self, job: Job, delay: float, reason: str) -> None:
        """Re-post the job with ``failures`` one higher, due after ``delay`` (send, then delete)."""
        await self._end_lease(job)
        if job.receipt is None:
            raise ValueError("fail() needs a job received from this queue")
        job.failures += 1
        await self._repost([job], [time.time() + max(0.0, delay)], [job.attempts])

    async def dead_letter(self, job: Job, reason: str) -> None:
        """Send the job to the dead-letter queue with ``reason``, then delete it here."""
        await self._end_lease(job)
        if job.receipt is None:
            raise ValueError("dead_letter() needs a job received from this queue")
        url = await self.dead_letter_url()
        fresh = Job(batch_id=job.batch_id, first_id=job.first_id, last_id=job.last_id, failures=job.failures)
        await self._call("send_message", QueueUrl=url,
                         MessageBody=encode_job(fresh, reason=reason, dead_at=time.time()))
        await self._delete([job.receipt])

    async def list_dead(self, limit: int = 100) -> list[DeadJob]:
        found, handles = await self._scan_dead(limit=limit)
        await self._release_dead(handles)
        return sorted(found.values(), key=lambda dead: (dead.dead_at is not None, dead.dead_at or 0.0))

    async def get_dead(self, dead_id: str) -> DeadJob | None:
        found, handles = await self._scan_dead(wanted=dead_id)
        await self._release_dead(handles)
        return found.get(dead_id)

    async def redrive(self, dead_id: str) -> DeadJob | None:
        """Send the dead letter back to the jobs queue (failures reset), then delete it there."""
        found, handles = await self._scan_dead(wanted=dead_id)
        dead = found.get(dead_id)
        try:
            if dead is not None:
                job = dead.job
                await self.put([Job(batch_id=job.batch_id, first_id=job.first_id, last_id=job.last_id)])
                handle = handles.pop(dead_id)
                await self._call("delete_message_batch", QueueUrl=await self.dead_letter_url(),
                                 Entries=[{"Id": "0", "ReceiptHandle": handle}])
        finally:
            await self._release_dead(handles)
        return dead

    async def dead_letter_url(self) -> str:
        """``dead_letter_queue_url``, else the target of the jobs queue's redrive policy."""
        if self._dead_letter_url:
            return self._dead_letter_url
        if self._dead_letter_arn is None:
            await self._read_redrive_policy()
        arn = self._dead_letter_arn
        if not arn or arn.count(":") < 5:
            raise SqsQueueError(
                f"the SQS queue {self.queue_url} has no dead-letter queue: give it a redrive policy "
                "(postgate ses bootstrap does) or set dead_letter_queue_url in [plugins.sqs]"
            )
        account, name = arn.split(":")[4:6]
        response = await self._call("get_queue_url", QueueName=name, QueueOwnerAWSAccountId=account)
        self._dead_letter_url = str(response["QueueUrl"])
        return self._dead_letter_url

    async def _scan_dead(self, *, limit: int | None = None,
                         wanted: str | None = None) -> tuple[dict[str, DeadJob], dict[str, str]]:
        """Receive from the dead-letter queue (hiding what is seen) until it runs dry, ``limit``
        jobs are found or ``wanted`` is; return the jobs and the receipts to release, by id."""
        url = await self.dead_letter_url()
        found: dict[str, DeadJob] = {}
        handles: dict[str, str] = {}
        try:
            while (limit is None or len(found) < limit) and (wanted is None or wanted not in found):
                response = await self._call(
                    "receive_message", QueueUrl=url, MaxNumberOfMessages=MAX_BATCH, WaitTimeSeconds=0,
                    VisibilityTimeout=self.settings.dead_letter_peek_seconds,
                )
                messages = response.get("Messages") or []
                if not messages:
                    break
                for message in messages:
                    handles[str(message.get("MessageId"))] = message["ReceiptHandle"]
                    try:
                        dead = decode_dead(message)
                    except (ValueError, TypeError):
                        log.warning("dead-letter message %s is not a Postgate job; left alone",
                                    message.get("MessageId"))
                        continue
                    found[dead.id] = dead
        except BaseException:
            await self._release_dead(handles)
            raise
        if limit is not None and len(found) > limit:
            found = dict(list(found.items())[:limit])
        return found, handles

    async def _release_dead(self, handles: dict[str, str]) -> None:
        if not handles:
            return
        url = await self.dead_letter_url()
        for group in _groups(list(handles.values())):
            entries = [{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                       for i, handle in enumerate(group)]
            with contextlib.suppress(Exception):  # they reappear after the peek anyway
                await self._call("change_message_visibility_batch", QueueUrl=url, Entries=entries)

    # -- operations -------------------------------------------------------------------------

    async def depth(self) -> int | None:
        return await self._approximate_messages(self.queue_url)

    async def oldest_age(self) -> float | None:
        """``None``: SQS tells the age of the oldest message only through CloudWatch
        (``ApproximateAgeOfOldestMessage``), not through the queue API."""
        return None

    async def dead_letter_depth(self) -> int | None:
        """Messages in the dead-letter queue (``dead_letter_queue_url``, else the target of the
        jobs queue's redrive policy); ``None`` when there is none."""
        if not self._dead_letter_url and self._policy_read and not self._dead_letter_arn:
            return None  # known to have none: no call on every snapshot
        try:
            url = await self.dead_letter_url()
        except SqsQueueError:
            return None
        return await self._approximate_messages(url)

    async def check_dead_letters(self) -> None:
        """Readiness probe: the dead-letter queue answers; a change in its depth is logged."""
        depth = await self.dead_letter_depth()
        if depth and depth != self._dead_letters_seen:
            log.warning("%d jobs wait in the SQS dead-letter queue %s: their workers died or hung on "
                        "them; inspect and move them back when fixed", depth,
                        self.settings.dead_letter_queue_url)
        self._dead_letters_seen = depth

    async def _approximate_messages(self, url: str) -> int:
        response = await self._call("get_queue_attributes", QueueUrl=url,
                                    AttributeNames=["ApproximateNumberOfMessages"])
        return int(response.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))

    def _track(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
