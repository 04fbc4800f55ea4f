"""The SES event source against moto: SES records published to SNS, pulled from SQS (envelope
and raw delivery), read back as Mailgun events through the real ``/v3/<domain>/events`` API."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from postgate.domain import Message, RecipientStatus, RecipientUpdate
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate.web import create_app
from postgate.worker import Worker
from postgate_ses.source import ROUND_MESSAGES, SesEventSource, park_path
from postgate_ses.testing import EMAIL_ID, GHOST_TAGS, queue_depth, sent_rows, ses_record, wire_topic

SOURCE_LOGGER = "postgate.ses.events"


@dataclass
class World:
    aws: Any
    gateway: Any
    client: Any
    topic: str
    queue: str
    source: SesEventSource
    task: asyncio.Task | None = None

    def publish(self, record: dict[str, Any]) -> None:
        self.aws.client("sns").publish(TopicArn=self.topic, Message=json.dumps(record))

    def start(self) -> None:
        self.task = asyncio.create_task(self.source.run(self.gateway.record_events))

    async def drained(self, timeout: float = 30.0) -> None:
        """Wait until the source has handled and deleted everything on the queue."""
        deadline = time.monotonic() + timeout
        while await asyncio.to_thread(queue_depth, self.aws, self.queue):
            assert self.task is None or not self.task.done(), self.task.exception()
            assert time.monotonic() < deadline, "the events queue was not drained"
            await asyncio.sleep(0.1)

    async def events(self, **params: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in {"limit": "300", **params}.items())
        response = await self.client.get(f"/v3/{TEST_DOMAIN}/events?{query}", headers=basic_auth())
        body = await response.get_json()
        assert response.status_code == 200, body
        return body["items"]

    async def get(self, path: str) -> tuple[int, Any]:
        response = await self.client.get(f"/v3/{TEST_DOMAIN}/{path}", headers=basic_auth())
        return response.status_code, await response.get_json()

    async def rows(self, addresses: list[str], **kwargs: Any):
        return await sent_rows(self.gateway, self.aws, addresses, **kwargs)


@pytest_asyncio.fixture
async def make_world(aws, gateway_factory):
    worlds: list[World] = []
    contexts = []

    async def make(raw: bool = False, start: bool = True, redrive: int | None = None, **ses: Any) -> World:
        topic, queue = wire_topic(aws, raw=raw)
        if redrive is not None:
            sqs = aws.client("sqs")
            dlq = sqs.create_queue(QueueName="postgate-ses-events-dlq")["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sqs.set_queue_attributes(QueueUrl=queue, Attributes={"RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(redrive)})})
        # Received messages stay hidden 30 s: long enough for handling on a loaded machine (with
        # 1 s, a batch handled slower came back, and its copies reached the sink twice). Tests of
        # retries and redeliveries set 1 s (the retry delay of an unmatched event is the same).
        settings = {"endpoint_url": aws.url, "events_queue_url": queue, "events_wait_seconds": 1,
                    "events_visibility_timeout": 30, **ses}
        gateway = gateway_factory(load_entrypoints=True, load_plugins=["ses"], plugin_settings={"ses": settings},
                                  backends={"event_sources": ["ses"]})
        app = create_app(gateway, background=False)
        context = app.test_app()
        test_app = await context.__aenter__()
        contexts.append(context)
        world = World(aws, gateway, test_app.test_client(), topic, queue, gateway.event_sources[0])
        if start:
            world.start()
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        if world.task is not None:
            world.task.cancel()
            await asyncio.gather(world.task, return_exceptions=True)
    for context in reversed(contexts):
        await context.__aexit__(None, None, None)


def by_recipient(items: list[dict[str, Any]], kind: str | None = None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        if kind is None or item["event"] == kind:
            assert item["recipient"] not in out, f"two {item['event']} events for {item['recipient']}"
            out[item["recipient"]] = item
    return out


def assert_ghost_fields(item: dict[str, Any], row: Any) -> None:
    """What Ghost's normalizeEvent reads, plus the tags it filters on (mailgun-api §10)."""
    assert isinstance(item["id"], str) and len(item["id"]) >= 20
    assert isinstance(item["timestamp"], float)
    assert item["recipient"] == row.address
    assert item["recipient-domain"] == "example.com"
    assert item["tags"] == GHOST_TAGS
    assert item["user-variables"]["email-id"] == EMAIL_ID
    assert item["user-variables"]["uuid"].startswith("u-")  # substituted per recipient
    assert item["campaigns"] == []
    assert item["message"]["headers"]["message-id"] == row.message_id


async def worker_pass(gateway) -> None:
    """Run one worker (outbox delivery) until the local queue is empty."""
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(gateway, "w").run(stop))
    deadline = time.monotonic() + 30
    try:
        while await gateway.queue.depth():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


# -- every SES event type ---------------------------------------------------------------------------


CASES = {
    "delivered@example.com": ("Delivery", {}),
    "gone@example.com": ("Bounce", {}),
    "blocked@example.com": ("Bounce", {"bounceSubType": "OnAccountSuppressionList", "bouncedRecipients": [
        {"emailAddress": "blocked@example.com", "action": "failed",
         "diagnosticCode": "Amazon SES did not send the message to this address because it is on the "
                           "suppression list for your account."}]}),
    "ses-suppressed@example.com": ("Bounce", {"bounceSubType": "Suppressed", "bouncedRecipients": [
        {"emailAddress": "ses-suppressed@example.com"}]}),
    "unknown@example.com": ("Bounce", {"bounceType": "Undetermined", "bounceSubType": "Undetermined",
                                       "bouncedRecipients": [{"emailAddress": "unknown@example.com"}]}),
    "full@example.com": ("Bounce", {"bounceType": "Transient", "bounceSubType": "MailboxFull", "bouncedRecipients": [
        {"emailAddress": "full@example.com", "action": "failed", "status": "4.2.2",
         "diagnosticCode": "smtp; 452 4.2.2 The email account that you tried to reach is over quota"}]}),
    "slow@example.com": ("DeliveryDelay", {}),
    "virus@example.com": ("Reject", {}),
    "render@example.com": ("Rendering Failure", {}),
    "annoyed@example.com": ("Complaint", {}),
    "listed@example.com": ("Complaint", {"complaintSubType": "OnAccountSuppressionList"}),
    "reader@example.com": ("Open", {}),
    "clicker@example.com": ("Click", {}),
    "leaver@example.com": ("Subscription", {}),
    "sendonly@example.com": ("Send", {}),
}


@pytest.mark.parametrize("raw", [False, True], ids=["envelope", "raw"])
async def test_every_ses_event_type_becomes_the_mailgun_event_ghost_reads(make_world, raw):
    world = await make_world(raw=raw)
    sent = await world.rows(list(CASES))
    rows = {row.address: row for row, _ in sent}
    for row, ses_id in sent:
        kind, detail = CASES[row.address]
        world.publish(ses_record(kind, ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id, **detail))
    await world.drained()
    items = await world.events()
    assert len(items) == len(CASES) - 1  # Send makes no Mailgun event
    events = by_recipient(items)
    assert "sendonly@example.com" not in events
    for address, item in events.items():
        assert_ghost_fields(item, rows[address])

    delivered = events["delivered@example.com"]
    assert delivered["event"] == "delivered" and delivered["log-level"] == "info"
    assert delivered["delivery-status"]["code"] == 250
    assert delivered["delivery-status"]["message"].startswith("250 2.0.0 OK")
    assert delivered["delivery-status"]["mx-host"] == "203.0.113.25"
    assert delivered["message"]["headers"]["subject"] == "Hello delivered"
    assert delivered["envelope"]["targets"] == "delivered@example.com"

    hard = events["gone@example.com"]
    assert (hard["event"], hard["severity"], hard["reason"], hard["log-level"]) == \
        ("failed", "permanent", "bounce", "error")
    assert hard["delivery-status"]["code"] == 550
    assert hard["delivery-status"]["enhanced-code"] == "5.1.1"
    assert hard["delivery-status"]["message"] == "550 5.1.1 user unknown"

    for address in ("blocked@example.com", "ses-suppressed@example.com"):
        dropped = events[address]
        assert (dropped["severity"], dropped["reason"]) == ("permanent", "suppress-bounce")
        assert dropped["delivery-status"]["code"] == 605  # Ghost disables the member on 605
        assert dropped["delivery-status"]["description"] == "Not delivering to previously bounced address"

    undetermined = events["unknown@example.com"]
    assert (undetermined["severity"], undetermined["reason"]) == ("permanent", "generic")
    assert undetermined["delivery-status"]["code"] == 550
    assert "Undetermined" in undetermined["delivery-status"]["message"]

    soft = events["full@example.com"]
    assert (soft["severity"], soft["reason"], soft["log-level"]) == ("temporary", "bounce", "warn")
    assert soft["delivery-status"]["code"] == 452 and soft["delivery-status"]["enhanced-code"] == "4.2.2"

    delayed = events["slow@example.com"]
    assert (delayed["severity"], delayed["reason"]) == ("temporary", "generic")
    assert delayed["delivery-status"]["code"] == 421 and delayed["delivery-status"]["enhanced-code"] == "4.4.1"
    assert "TransientCommunicationFailure" in delayed["delivery-status"]["description"]

    for address, text in (("virus@example.com", "Bad content"), ("render@example.com", "first_name")):
        failed = events[address]
        assert (failed["severity"], failed["reason"]) == ("permanent", "generic")
        assert text in failed["delivery-status"]["message"]

    assert events["annoyed@example.com"]["event"] == "complained"
    assert events["annoyed@example.com"]["log-level"] == "warn"
    listed = events["listed@example.com"]
    assert (listed["event"], listed["reason"]) == ("failed", "suppress-complaint")
    assert listed["delivery-status"]["code"] == 607

    opened = events["reader@example.com"]
    assert opened["event"] == "opened" and opened["ip"] == "192.0.2.1"
    assert opened["client-info"]["user-agent"].startswith("Mozilla/5.0 (iPhone")
    assert set(opened["message"]["headers"]) == {"message-id"}
    clicked = events["clicker@example.com"]
    assert clicked["event"] == "clicked" and clicked["url"] == "https://news.example.com/2024/05/this-week/"
    assert events["leaver@example.com"]["event"] == "unsubscribed"

    # Ghost's two queries, with its tag filter
    ghost = await world.events(event="delivered OR failed OR unsubscribed OR complained".replace(" ", "+"),
                               tags="bulk-email")
    assert len(ghost) == len(CASES) - 3  # not the open, the click, nor the Send
    assert [i["recipient"] for i in await world.events(event="opened", tags="bulk-email")] == ["reader@example.com"]

    # every row that SES reported on carries its SES message id and stays terminal
    stored = await world.gateway.storage.get_recipients([row.id for row, _ in sent])
    assert {r.id: r.provider_id for r in stored} == {row.id: ses_id for row, ses_id in sent}
    assert all(r.status is RecipientStatus.SENT for r in stored)


async def test_identity_notifications_without_tags_are_matched_by_ses_message_id(make_world):
    world = await make_world()
    (row, ses_id), = await world.rows(["old-style@example.com"])
    world.publish(ses_record("Bounce", ses_id, row.address, notification=True))
    world.publish(ses_record("Delivery", ses_id, row.address, notification=True, offset=1))
    await world.drained()
    events = await world.events()
    assert sorted(e["event"] for e in events) == ["delivered", "failed"]
    for item in events:
        assert_ghost_fields(item, row)


# -- duplicates --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [False, True], ids=["envelope", "raw"])
async def test_the_same_ses_event_published_twice_is_stored_once(make_world, raw):
    world = await make_world(raw=raw)
    (row, ses_id), = await world.rows(["twice@example.com"])
    delivery = ses_record("Delivery", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id)
    world.publish(delivery)
    world.publish(delivery)
    # the same delivery reported again as an identity notification (no tags, other family)
    again = json.loads(json.dumps(delivery))
    again["notificationType"] = again.pop("eventType")
    again["mail"].pop("tags")
    world.publish(again)
    await world.drained()
    # and a redelivery long after the first copy was deleted
    world.publish(delivery)
    await world.drained()
    items = await world.events()
    assert [i["event"] for i in items] == ["delivered"]


@pytest.mark.parametrize("events_client", ["http", "boto3"])
async def test_both_events_clients_store_each_event_once(make_world, events_client):
    world = await make_world(events_client=events_client)
    assert type(world.source.sqs).__name__ == {"http": "SqsHttpClient", "boto3": "BotoSqs"}[events_client]
    (row, ses_id), = await world.rows(["either@example.com"])
    delivery, opened = (ses_record(kind, ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id)
                        for kind in ("Delivery", "Open"))
    for record in (delivery, delivery, opened):
        world.publish(record)
    await world.drained()
    assert sorted(i["event"] for i in await world.events()) == ["delivered", "opened"]


# -- events that overtake their ledger row -------------------------------------------------------


async def test_event_before_its_ledger_row_is_retried_then_stored_once(make_world, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    world = await make_world(unmatched_retry_seconds=60, events_visibility_timeout=1)
    (row, ses_id), = await world.rows(["early@example.com"], commit=False)  # the worker has not committed
    world.publish(ses_record("Delivery", ses_id, row.address, notification=True))  # no pg_rcpt: by SES id only
    deadline = time.monotonic() + 20
    while sum("no ledger row yet" in r.getMessage() for r in caplog.records) < 2:  # received at least twice
        assert time.monotonic() < deadline, "the unmatched event was not retried"
        await asyncio.sleep(0.1)
    assert await world.events() == []
    assert await asyncio.to_thread(queue_depth, world.aws, world.queue) == 1  # still queued, not lost
    await world.gateway.storage.update_recipients(
        [RecipientUpdate(row.id, RecipientStatus.SENT, attempts=1, provider_id=ses_id)])
    await world.drained()
    items = await world.events()
    assert [i["event"] for i in items] == ["delivered"]
    assert_ghost_fields(items[0], row)
    assert not park_path(world.gateway).exists()


async def test_unmatched_event_is_parked_with_a_log_line_after_the_window(make_world, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    world = await make_world(unmatched_retry_seconds=2, events_visibility_timeout=1)
    record = ses_record("Bounce", "0100018f-not-ours-000000", "stranger@example.com", rcpt_id=987654, batch_id=99)
    started = time.monotonic()
    world.publish(record)
    await world.drained()
    assert time.monotonic() - started >= 1.5  # retried for the window first
    assert await world.events() == []
    parked = [r for r in caplog.records if "parked" in r.getMessage()]
    assert len(parked) == 1 and parked[0].levelno == logging.WARNING
    assert "0100018f-not-ours-000000" in parked[0].getMessage()
    lines = park_path(world.gateway).read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["ses_message_id"] == "0100018f-not-ours-000000" and entry["event_type"] == "Bounce"
    assert entry["pg_rcpt"] == "987654" and entry["age_seconds"] >= 2
    body = json.loads(entry["body"])
    assert json.loads(body["Message"]) == record  # the whole envelope is kept


async def test_malformed_bodies_are_logged_and_deleted_and_do_not_block_the_batch(make_world, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    world = await make_world(start=False)
    (row, ses_id), = await world.rows(["fine@example.com"])
    sqs = world.aws.client("sqs")
    sqs.send_message(QueueUrl=world.queue, MessageBody="this is not json")
    sqs.send_message(QueueUrl=world.queue, MessageBody=json.dumps({"eventType": "Open"}))
    world.publish(ses_record("Open", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id))
    world.start()
    await world.drained()
    assert [i["event"] for i in await world.events()] == ["opened"]
    malformed = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(malformed) == 2 and any("this is not json" in m for m in malformed)


# -- suppression effects -----------------------------------------------------------------------


async def next_send_failure(world, address: str) -> dict[str, Any]:
    await world.gateway.accept(Message(domain=TEST_DOMAIN, sender="news@mg.example.com", to=[address],
                                       subject="next", text="t", variables={"email-id": "next-email"},
                                       tags=list(GHOST_TAGS)))
    await worker_pass(world.gateway)
    # A second the test already read is closed: an event recorded in it shows from the next one.
    deadline = time.monotonic() + 20
    while not (failures := [i for i in await world.events(event="failed")
                            if i["user-variables"].get("email-id") == "next-email"]):
        assert time.monotonic() < deadline, "no failed event for the next send"
        await asyncio.sleep(0.1)
    assert len(failures) == 1
    return failures[0]


async def test_permanent_bounce_suppresses_the_next_send_with_605(make_world):
    world = await make_world()
    (row, ses_id), = await world.rows(["gone@example.com"])
    world.publish(ses_record("Bounce", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id))
    await world.drained()
    status, entry = await world.get("bounces/gone@example.com")
    assert status == 200 and int(entry["code"]) == 550
    failure = await next_send_failure(world, "gone@example.com")
    assert (failure["reason"], failure["delivery-status"]["code"]) == ("suppress-bounce", 605)


async def test_complaint_suppresses_the_next_send_with_607(make_world):
    world = await make_world()
    (row, ses_id), = await world.rows(["annoyed@example.com"])
    world.publish(ses_record("Complaint", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id))
    await world.drained()
    assert (await world.get("complaints/annoyed@example.com"))[0] == 200
    failure = await next_send_failure(world, "annoyed@example.com")
    assert (failure["reason"], failure["delivery-status"]["code"]) == ("suppress-complaint", 607)


async def test_transient_bounces_suppress_once_the_threshold_is_reached(make_world):
    world = await make_world()
    address = "full@example.com"
    soft = {"bounceType": "Transient", "bounceSubType": "MailboxFull", "bouncedRecipients": [
        {"emailAddress": address, "status": "4.2.2", "diagnosticCode": "smtp; 452 4.2.2 over quota"}]}
    for attempt in range(3):
        (row, ses_id), = await world.rows([address], email_id=f"email-{attempt}")
        world.publish(ses_record("Bounce", ses_id, address, rcpt_id=row.id, batch_id=row.batch_id, **soft))
        # a delivery delay is not a bounce and does not count
        world.publish(ses_record("DeliveryDelay", ses_id, address, rcpt_id=row.id, batch_id=row.batch_id))
        await world.drained()
        status, entry = await world.get(f"bounces/{address}")
        assert status == (200 if attempt == 2 else 404), (attempt, entry)
    assert entry["code"] in (452, "452")
    assert len(await world.events(event="failed", severity="temporary")) == 6
    failure = await next_send_failure(world, address)
    assert failure["delivery-status"]["code"] == 605


async def test_transient_threshold_is_configurable(make_world):
    world = await make_world(transient_bounce_threshold=1)
    (row, ses_id), = await world.rows(["full@example.com"])
    world.publish(ses_record("Bounce", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id,
                             bounceType="Transient", bounceSubType="General"))
    await world.drained()
    assert (await world.get("bounces/full@example.com"))[0] == 200


async def test_subscription_opt_out_adds_an_unsubscribe(make_world):
    world = await make_world()
    (row, ses_id), (other, other_id) = await world.rows(["leaver@example.com", "stayer@example.com"])
    world.publish(ses_record("Subscription", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id))
    weekly_in = {"topicName": "weekly", "subscriptionStatus": "OptIn"}
    weekly_out = {"topicName": "weekly", "subscriptionStatus": "OptOut"}
    opt_in = {"newTopicPreferences": {"unsubscribeAll": False, "topicSubscriptionStatus": [weekly_in]},
              "oldTopicPreferences": {"unsubscribeAll": False, "topicSubscriptionStatus": [weekly_out]}}
    world.publish(ses_record("Subscription", other_id, other.address, rcpt_id=other.id, batch_id=other.batch_id,
                             **opt_in))
    await world.drained()
    assert [i["recipient"] for i in await world.events()] == ["leaver@example.com"]
    status, entry = await world.get("unsubscribes/leaver@example.com")
    assert status == 200 and set(entry["tags"]) == set(GHOST_TAGS)
    assert (await world.get("unsubscribes/stayer@example.com"))[0] == 404


# -- in-doubt sends ----------------------------------------------------------------------------


async def test_send_and_delivery_events_settle_in_doubt_rows(make_world):
    world = await make_world()
    sent = await world.rows(["doubt1@example.com", "doubt2@example.com", "never@example.com"], commit=False)
    batch_id = sent[0][0].batch_id
    # a worker claimed the rows and crashed (or timed out) before recording SES's answer
    claimed = await world.gateway.storage.claim_recipients(batch_id, "crashed-worker", 0.1, 10, time.time())
    assert {r.status for r in claimed} == {RecipientStatus.SENDING}
    (one, one_id), (two, two_id), (never, _) = sent
    world.publish(ses_record("Send", one_id, one.address, rcpt_id=one.id, batch_id=batch_id))
    world.publish(ses_record("Delivery", two_id, two.address, rcpt_id=two.id, batch_id=batch_id))
    await world.drained()
    rows = {r.id: r for r in await world.gateway.storage.get_recipients([one.id, two.id, never.id])}
    assert (rows[one.id].status, rows[one.id].provider_id) == (RecipientStatus.SENT, one_id)
    assert (rows[two.id].status, rows[two.id].provider_id) == (RecipientStatus.SENT, two_id)
    assert (rows[never.id].status, rows[never.id].provider_id) == (RecipientStatus.SENDING, None)
    assert [(i["event"], i["recipient"]) for i in await world.events()] == [("delivered", "doubt2@example.com")]


async def test_events_do_not_change_a_settled_row(make_world):
    world = await make_world()
    (row, ses_id), = await world.rows(["done@example.com"])
    await world.gateway.storage.update_recipients([RecipientUpdate(row.id, RecipientStatus.FAILED, attempts=1,
                                                                   provider_id=ses_id, error="x")])
    world.publish(ses_record("Send", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id))
    await world.drained()
    stored, = await world.gateway.storage.get_recipients([row.id])
    assert stored.status is RecipientStatus.FAILED


# -- guards and lifecycle ----------------------------------------------------------------------


async def test_events_of_another_installation_are_not_attributed_to_our_rows(make_world, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    world = await make_world(unmatched_retry_seconds=1, events_visibility_timeout=1)
    (row, ses_id), = await world.rows(["ours@example.com"])
    # same ledger id, but another address and batch: somebody else's pg_rcpt on a shared topic
    world.publish(ses_record("Bounce", "their-ses-id", "theirs@example.com", rcpt_id=row.id,
                             batch_id=row.batch_id + 50))
    await world.drained()
    assert await world.events() == []
    assert any("parked" in r.getMessage() for r in caplog.records)


async def test_the_source_stops_promptly_when_cancelled(make_world):
    world = await make_world(start=False, events_wait_seconds=10)
    world.start()
    await asyncio.sleep(0.5)  # inside a 10 s long poll
    started = time.monotonic()
    world.task.cancel()
    await asyncio.gather(world.task, return_exceptions=True)
    assert time.monotonic() - started < 5.0  # not the rest of the 10 s poll (a loaded machine is slow)
    assert world.task.cancelled()


async def test_without_a_queue_the_source_returns_at_once(aws, gateway_factory):
    gateway = gateway_factory(load_entrypoints=True, load_plugins=["ses"], plugin_settings={"ses": {}},
                              backends={"event_sources": ["ses"]})
    await gateway.start()
    source = gateway.event_sources[0]
    await asyncio.wait_for(source.run(gateway.record_events), 10)  # with a queue it would poll on and on


async def test_a_failing_sink_leaves_the_messages_queued(make_world):
    world = await make_world(start=False, events_visibility_timeout=1)
    (row, ses_id), = await world.rows(["kept@example.com"])
    world.publish(ses_record("Delivery", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id))

    async def broken_sink(events):
        raise RuntimeError("storage is down")

    messages = await world.source.receive()
    assert len(messages) == 1
    with pytest.raises(RuntimeError):
        await world.source.handle(messages, broken_sink)
    assert await asyncio.to_thread(queue_depth, world.aws, world.queue) == 1
    world.start()
    await world.drained()
    assert [i["event"] for i in await world.events()] == ["delivered"]


async def test_unmatched_events_are_parked_before_the_dead_letter_queue_takes_them(make_world, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    world = await make_world(redrive=3, unmatched_retry_seconds=6, events_visibility_timeout=1)
    assert world.source.max_receives == 3
    world.publish(ses_record("Delivery", "unknown-ses-id", "nobody@example.com", rcpt_id=424242))
    await world.drained(timeout=60)
    tries = [r.getMessage() for r in caplog.records if "no ledger row yet" in r.getMessage()]
    assert len(tries) == 2  # receives 1 and 2 retried (spread over the window), receive 3 parked
    assert "next try in 3 s" in tries[0]
    assert any("parked" in r.getMessage() for r in caplog.records)
    dlq = world.aws.client("sqs").get_queue_url(QueueName="postgate-ses-events-dlq")["QueueUrl"]
    assert await asyncio.to_thread(queue_depth, world.aws, dlq) == 0
    assert len(park_path(world.gateway).read_text().splitlines()) == 1


async def test_hostile_bodies_never_stop_the_source(make_world, caplog):
    """Deep JSON, wrong JSON types in the envelope and in the SES record: logged and deleted, and
    the good event in the same batches is stored."""
    caplog.set_level(logging.INFO, logger="postgate.ses")
    world = await make_world(start=False)
    (row, ses_id), = await world.rows(["fine@example.com"])
    good = ses_record("Open", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id)
    envelope = {"Type": "Notification", "MessageId": "m", "TopicArn": world.topic, "Timestamp": "2024-05-06T09:00:03Z"}
    deep = "[" * 50_000 + "]" * 50_000
    bodies = [
        deep,
        json.dumps(dict(envelope, Message=5)),
        json.dumps(dict(envelope, Message=deep)),
        json.dumps(dict(envelope, Message=json.dumps(dict(good, mail=dict(good["mail"], tags=7))))),
        json.dumps(dict(good, mail=dict(good["mail"], destination="fine@example.com"))),
        json.dumps(dict(good, mail=dict(good["mail"], messageId=["x"]))),
        json.dumps(dict(good, open=[1, 2])),
        json.dumps(dict(ses_record("Bounce", ses_id, row.address), bounce={"bouncedRecipients": "x@example.com"})),
        '{"eventType": "Open", "mail": {"messageId": "\\ud800"}}',
        '{"eventType": NaN}',
    ]
    sqs = world.aws.client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=world.queue, MessageBody=body)
    world.publish(good)
    world.start()
    await world.drained()
    assert not world.task.done()
    assert [i["event"] for i in await world.events()] == ["opened"]
    malformed = [r.getMessage() for r in caplog.records if "malformed message" in r.getMessage()]
    assert len(malformed) == len(bodies)


async def test_a_record_that_breaks_the_mapper_does_not_hold_back_its_batch(make_world, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    world = await make_world(start=False, unmatched_retry_seconds=0.5)
    (row, ses_id), (other, other_id) = await world.rows(["fine@example.com", "poison@example.com"])
    mapper = world.source.mapper
    real_events = mapper._events

    def events_or_fault(record, rows, builders):  # a mapper bug that only this record triggers
        if record.ses_message_id == other_id:
            raise KeyError("mapper bug")
        return real_events(record, rows, builders)

    mapper._events = events_or_fault
    original_map = mapper.map

    async def strict_map(records):  # let the fault escape instead of being caught per record
        outcomes = await original_map(records)
        if any(r.ses_message_id == other_id for r in records):
            raise KeyError("mapper bug")
        return outcomes

    mapper.map = strict_map
    world.publish(ses_record("Open", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id))
    world.publish(ses_record("Open", other_id, other.address, rcpt_id=other.id, batch_id=other.batch_id))
    messages = await world.source.receive()
    while len(messages) < 2:
        messages += await world.source.receive()
    counts = await world.source.handle(messages, world.gateway.record_events)
    assert counts["handled"] == 1 and counts["unmatched"] + counts["parked"] == 1
    assert [i["recipient"] for i in await world.events()] == ["fine@example.com"]
    assert any("could not be mapped" in r.getMessage() for r in caplog.records)


# -- parallel receives, batched rounds -----------------------------------------------------------


async def test_a_deep_queue_with_repeats_is_stored_once_per_event_through_batched_rounds(make_world):
    """Many messages waiting at once: parallel receives are handled in rounds of several
    batches; every repeated SNS message (same round or another one) is stored once."""
    world = await make_world(start=False)
    rows = await world.rows([f"reader{i}@example.com" for i in range(15)])
    for row, ses_id in rows:
        for kind in ("Delivery", "Open"):
            record = ses_record(kind, ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id)
            world.publish(record)
            world.publish(record)
    handed: list[int] = []

    async def counting_sink(events):
        handed.append(len(events))
        return await world.gateway.record_events(events)

    world.task = asyncio.create_task(world.source.run(counting_sink))
    await world.drained()
    items = await world.events()
    assert sorted((i["recipient"], i["event"]) for i in items) == sorted(
        (row.address, kind) for row, _ in rows for kind in ("delivered", "opened"))
    # Every copy reached the sink (none dropped before it); a standard queue may hand a message
    # out twice (at-least-once delivery; moto does so under parallel receives), and the storage
    # kept one of each either way (above).
    assert sum(handed) >= 60


async def test_a_round_takes_every_received_batch_waiting_up_to_its_size():
    received: asyncio.Queue = asyncio.Queue()
    for start in range(0, 150, 10):
        received.put_nowait([{"MessageId": str(n)} for n in range(start, start + 10)])
    first = await SesEventSource._take_round(received)
    second = await SesEventSource._take_round(received)
    assert [m["MessageId"] for m in first] == [str(n) for n in range(ROUND_MESSAGES)]
    assert [m["MessageId"] for m in second] == [str(n) for n in range(ROUND_MESSAGES, 150)]
    assert received.empty()
