"""The SES event source: pull SES events from the SQS queue SNS feeds (envelope or raw delivery).

Loop: :data:`RECEIVERS` tasks each ``ReceiveMessage`` (10 at a time, long poll) and hand what
they got to one handler. With ``events_client = "http"`` (the default) the hot SQS calls
(``ReceiveMessage``, ``DeleteMessageBatch``, ``ChangeMessageVisibilityBatch``) are signed JSON
requests on the event loop (:class:`~postgate_ses.sqs_http.SqsHttpClient`); with ``"boto3"`` they
are boto3 calls in a :class:`~postgate.blocking.BlockingPool`. boto3 makes the rest
(``GetQueueAttributes``). The handler takes
every received batch waiting (up to :data:`ROUND_MESSAGES` messages), parses and maps them in one
go (:class:`~postgate_ses.mapping.EventMapper`: one ledger lookup), hands every resulting Mailgun
event to the sink in one call (one storage transaction; duplicates by event key are stored once),
then ``DeleteMessageBatch``-es the messages that are done, the batches of 10 side by side.
:data:`ROUNDS` rounds run at once (one stores while the other deletes). The receivers wait
while the handlers are busy (at most :data:`ROUND_MESSAGES` messages wait), so a message is
never held long within its visibility timeout.

- Handled and ignored messages (``Send``, SNS test messages, opt-ins…) are deleted after the sink
  returned; a failing sink leaves every message of the batch on the queue (redelivered, deduped).
- Malformed bodies are logged with the body and deleted: retrying cannot fix them.
- *Unmatched* messages (no ledger row or batch yet: the event overtook the worker's commit, or it
  is not Postgate's mail) stay on the queue and come back after the visibility timeout. When the
  queue has a dead-letter redrive policy, their remaining receives are spread over the rest of the
  window (``ChangeMessageVisibility``) so SQS does not move them away first. Once older than
  ``unmatched_retry_seconds`` (SQS ``SentTimestamp``), or at the last receive the redrive policy
  allows, they are *parked*: one JSON line with the body goes to
  ``<data_dir>/ses/parked-events.jsonl`` and a warning with the body goes to the log, then the
  message is deleted. If the park file cannot be written the message stays queued.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from postgate.backends import EventSink, EventSource
from postgate.blocking import BlockingPool

from .aws import credentials, sqs_client
from .mapping import EventMapper, MalformedRecord, Outcome, SesRecord, parse_body
from .sqs_http import SqsHttpClient

log = logging.getLogger("postgate.ses.events")

BATCH_SIZE = 10
#: Concurrent ``ReceiveMessage`` calls (each one SQS round trip of up to 10 messages).
RECEIVERS = 4
#: Most messages one handling round maps, stores and deletes together.
ROUND_MESSAGES = 100
#: Handling rounds in flight at once (one stores while the other deletes or looks up).
ROUNDS = 2
MAX_VISIBILITY = 43200  # SQS's limit, seconds
ERROR_DELAY = 5.0
LOGGED_BODY_CHARS = 8000
PARK_FILE = Path("ses") / "parked-events.jsonl"
#: Connections of the HTTP client: every receiver, and the deletes of two rounds side by side.
HTTP_CONNECTIONS = RECEIVERS + ROUNDS * ROUND_MESSAGES // BATCH_SIZE


def park_path(gateway: Any) -> Path:
    return Path(gateway.settings.data_dir) / PARK_FILE


def write_parked(path: Path, entries: Sequence[dict[str, Any]]) -> None:
    """Append ``entries`` as JSON lines (one ``write`` per call, flushed and fsynced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


class BotoSqs:
    """The hot SQS calls as boto3 calls in a thread pool (``events_client = "boto3"``)."""

    def __init__(self, pool: BlockingPool, client: Any) -> None:
        self.pool = pool
        self.client = client

    async def receive_message(self, **params: Any) -> dict[str, Any]:
        return await self.pool.run(self.client.receive_message, **params)

    async def delete_message_batch(self, **params: Any) -> dict[str, Any]:
        return await self.pool.run(self.client.delete_message_batch, **params)

    async def change_message_visibility_batch(self, **params: Any) -> dict[str, Any]:
        return await self.pool.run(self.client.change_message_visibility_batch, **params)


class SesEventSource(EventSource):
    """Consumes ``events_queue_url``; see the module docstring."""

    name = "ses"

    def __init__(self, gateway: Any) -> None:
        super().__init__(gateway)
        self.settings = gateway.plugin_settings("ses")
        self.queue_url: str | None = self.settings.events_queue_url
        self.mapper = EventMapper(gateway)
        self.pool: BlockingPool | None = None
        self.client: Any = None  # boto3's SQS client
        self.sqs: Any = None  # what makes the hot calls: SqsHttpClient or BotoSqs
        self.park_file = park_path(gateway)
        self.max_receives: int | None = None  # the queue's redrive maxReceiveCount, if it has a DLQ
        # A long poll must end before the client's read timeout does.
        self.wait_seconds = max(0, min(self.settings.events_wait_seconds, int(self.settings.read_timeout) - 5))

    async def start(self) -> None:
        threaded = self.settings.events_client == "boto3"  # every receiver and delete in a thread
        self.pool = BlockingPool(RECEIVERS + 2 if threaded else 2, "ses-events")
        if self.queue_url:
            self.client = await self.pool.run(sqs_client, self.settings)
            if not threaded:
                chain = await self.pool.run(credentials)
                self.sqs = SqsHttpClient(self.client, chain, connections=HTTP_CONNECTIONS,
                                         connect_timeout=self.settings.connect_timeout,
                                         read_timeout=self.settings.read_timeout)
            else:
                self.sqs = BotoSqs(self.pool, self.client)
            try:
                self.max_receives = await self.pool.run(self._max_receives)
            except Exception:  # noqa: BLE001 - the queue may not exist yet; run() reports that
                log.warning("ses event source: could not read the redrive policy of %s", self.queue_url,
                            exc_info=True)

    def _max_receives(self) -> int | None:
        attributes = self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"])
        policy = (attributes.get("Attributes") or {}).get("RedrivePolicy")
        if not policy:
            return None
        value = json.loads(policy).get("maxReceiveCount")
        return int(value) if value else None

    async def stop(self) -> None:
        if isinstance(self.sqs, SqsHttpClient):
            await self.sqs.aclose()
        self.sqs = None
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None

    async def check(self) -> None:
        if self.queue_url and self.pool is not None:
            await self.pool.run(self.client.get_queue_attributes, QueueUrl=self.queue_url,
                                AttributeNames=["ApproximateNumberOfMessages"])

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, sink: EventSink) -> None:
        if not self.queue_url:
            log.info("ses event source: no events_queue_url set; events arrive only through POST /ses/sns")
            return
        received: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(maxsize=ROUND_MESSAGES // BATCH_SIZE)
        receivers = [asyncio.create_task(self._receive_into(received), name=f"ses-events-receive-{n}")
                     for n in range(RECEIVERS)]
        rounds: set[asyncio.Task[None]] = set()
        free = asyncio.Semaphore(ROUNDS)
        try:
            while True:
                await free.acquire()
                try:
                    messages = await self._take_round(received)
                except BaseException:
                    free.release()
                    raise
                task = asyncio.create_task(self._handle_round(messages, sink))
                rounds.add(task)
                task.add_done_callback(lambda done: (rounds.discard(done), free.release()))
        finally:
            for task in [*receivers, *rounds]:
                task.cancel()
            await asyncio.gather(*receivers, *rounds, return_exceptions=True)

    async def _handle_round(self, messages: list[dict[str, Any]], sink: EventSink) -> None:
        try:
            await self.handle(messages, sink)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the batch stays queued and comes back
            log.exception("ses event source: handling %d message(s) failed; they will be redelivered "
                          "after the visibility timeout", len(messages))
            await asyncio.sleep(ERROR_DELAY)

    async def _receive_into(self, received: asyncio.Queue[list[dict[str, Any]]]) -> None:
        """One receiver: long-poll the queue and pass every non-empty batch on."""
        while True:
            try:
                messages = await self.receive()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - an SQS outage must not end the loop
                log.exception("ses event source: ReceiveMessage on %s failed; retrying in %.0f s",
                              self.queue_url, ERROR_DELAY)
                await asyncio.sleep(ERROR_DELAY)
                continue
            if messages:
                await received.put(messages)

    @staticmethod
    async def _take_round(received: asyncio.Queue[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The next received batch, and every other one already waiting (up to ROUND_MESSAGES)."""
        messages = list(await received.get())
        while len(messages) < ROUND_MESSAGES and not received.empty():
            messages.extend(received.get_nowait())
        return messages

    async def receive(self) -> list[dict[str, Any]]:
        response = await self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=self.wait_seconds,
            VisibilityTimeout=self.settings.events_visibility_timeout,
            MessageSystemAttributeNames=["SentTimestamp", "ApproximateFirstReceiveTimestamp",
                                         "ApproximateReceiveCount"],
        )
        return list(response.get("Messages") or [])

    async def handle(self, messages: Sequence[dict[str, Any]], sink: EventSink) -> dict[str, int]:
        """Map, store and acknowledge one received batch; returns counts by outcome."""
        counts = {"handled": 0, "ignored": 0, "malformed": 0, "unmatched": 0, "parked": 0}
        done: list[dict[str, Any]] = []
        records: list[SesRecord] = []
        owners: list[dict[str, Any]] = []
        for message in messages:
            body = message.get("Body") or ""
            try:
                record = parse_body(body)
            except MalformedRecord as exc:
                log.warning("ses event source: malformed message %s deleted (%s): %s",
                            message.get("MessageId"), exc, str(body)[:LOGGED_BODY_CHARS])
                counts["malformed"] += 1
                done.append(message)
                continue
            if record is None:
                counts["ignored"] += 1
                done.append(message)
                continue
            records.append(record)
            owners.append(message)
        outcomes = await self.map_isolated(records)
        events = [event for outcome in outcomes for event in outcome.events]
        if events:
            await sink(events)
        to_park: list[tuple[dict[str, Any], SesRecord, float]] = []
        delays: list[tuple[dict[str, Any], int]] = []
        now = time.time()
        window = self.settings.unmatched_retry_seconds
        for message, record, outcome in zip(owners, records, outcomes):
            if outcome.status != "unmatched":
                counts[outcome.status] += 1
                done.append(message)
                continue
            age = now - self._sent_at(message, now)
            receives = int((message.get("Attributes") or {}).get("ApproximateReceiveCount") or 1)
            left = None if self.max_receives is None else self.max_receives - receives
            if age >= window or (left is not None and left <= 0):
                # Past the window, or the last receive before SQS would move it to the DLQ.
                to_park.append((message, record, age))
                continue
            counts["unmatched"] += 1
            delay = self.settings.events_visibility_timeout
            if left is not None:  # spread the remaining receives over the rest of the window
                delay = max(delay, min(MAX_VISIBILITY, math.ceil((window - age) / left)))
                delays.append((message, delay))
            log.info("ses event source: %s has no ledger row yet (%s); next try in %d s, %.0f s left before parking",
                     record.summary(), outcome.note, delay, window - age)
        if to_park and await self.park(to_park):
            counts["parked"] += len(to_park)
            done.extend(message for message, _, _ in to_park)
        elif to_park:
            counts["unmatched"] += len(to_park)
        await self.delete(done)
        await self.postpone([(m, d) for m, d in delays if d > self.settings.events_visibility_timeout])
        return counts

    async def map_isolated(self, records: Sequence[SesRecord]) -> list[Outcome]:
        """Map ``records`` in one go; if that fails, one by one, so that one record that breaks
        the mapper cannot hold the others back: it is treated as unmatched (retried, then parked).
        If every record fails alone too, the error is re-raised (storage trouble: redelivered)."""
        try:
            return await self.mapper.map(records)
        except Exception:  # noqa: BLE001 - narrowed down below
            if len(records) <= 1:
                raise
        outcomes: list[Outcome] = []
        failures: list[BaseException] = []
        for record in records:
            try:
                outcomes.extend(await self.mapper.map([record]))
            except Exception as exc:  # noqa: BLE001 - isolated: this record only
                failures.append(exc)
                log.exception("ses event source: %s could not be mapped; kept for retry, then parked: %s",
                              record.summary(), json.dumps(record.record)[:LOGGED_BODY_CHARS])
                outcomes.append(Outcome("unmatched", note=f"mapping failed: {exc!r}"))
        if len(failures) == len(records):
            raise failures[0]
        return outcomes

    @staticmethod
    def _sent_at(message: dict[str, Any], now: float) -> float:
        attributes = message.get("Attributes") or {}
        for name in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
            value = attributes.get(name)
            if value and str(value).isdigit():
                return int(value) / 1000
        return 0.0  # age unknown: park at once rather than retry forever

    async def park(self, items: Sequence[tuple[dict[str, Any], SesRecord, float]]) -> bool:
        """Write unmatched messages past the retry window to the park file and the log."""
        parked_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        entries = [
            {
                "parked_at": parked_at,
                "reason": "no ledger row or batch for this SES message",
                "source": "sqs",
                "queue_url": self.queue_url,
                "sqs_message_id": message.get("MessageId"),
                "sent_at": self._sent_at(message, 0.0),
                "age_seconds": round(age, 1),
                "event_type": record.kind,
                "ses_message_id": record.ses_message_id,
                "pg_rcpt": record.tag("pg_rcpt"),
                "body": message.get("Body"),
            }
            for message, record, age in items
        ]
        try:
            assert self.pool is not None
            await self.pool.run(write_parked, self.park_file, entries)
        except Exception:  # noqa: BLE001 - keep the messages queued rather than lose them
            log.exception("ses event source: could not write %s; %d unmatched message(s) stay queued",
                          self.park_file, len(entries))
            return False
        for (message, record, age), entry in zip(items, entries):
            log.warning("ses event source: parked %s after %.0f s without a ledger row (saved to %s): %s",
                        record.summary(), age, self.park_file, str(entry["body"])[:LOGGED_BODY_CHARS])
        return True

    async def postpone(self, delays: Sequence[tuple[dict[str, Any], int]]) -> None:
        """Hide unmatched messages for longer than the visibility timeout (best effort)."""
        for start in range(0, len(delays), BATCH_SIZE):
            part = delays[start:start + BATCH_SIZE]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": d}
                       for i, (m, d) in enumerate(part)]
            try:
                await self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - they simply come back sooner
                log.warning("ses event source: ChangeMessageVisibilityBatch failed", exc_info=True)

    async def delete(self, messages: Sequence[dict[str, Any]]) -> None:
        if not messages:
            return
        await asyncio.gather(*(self._delete_batch(messages[start:start + BATCH_SIZE])
                               for start in range(0, len(messages), BATCH_SIZE)))

    async def _delete_batch(self, part: Sequence[dict[str, Any]]) -> None:
        entries = [{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(part)]
        try:
            response = await self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - they come back and are deduplicated
            log.exception("ses event source: DeleteMessageBatch failed; %d message(s) will be redelivered",
                          len(entries))
            return
        for failure in response.get("Failed") or []:
            log.warning("ses event source: could not delete message %s: %s %s (it will be redelivered)",
                        failure.get("Id"), failure.get("Code"), failure.get("Message"))
