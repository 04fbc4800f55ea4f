"""A whole gateway on the ``sqs`` queue: accept a message, workers deliver it through the outbox."""

from __future__ import annotations

import asyncio
import json
import time

from postgate import Message, RecipientStatus
from postgate.worker import Worker
from postgate_sqs.queue import SqsQueue

DOMAIN = "mg.example.com"


def sqs_gateway(aws, gateway_factory, **gateway_settings):
    url = aws.client("sqs").create_queue(QueueName="postgate-jobs",
                                         Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    return gateway_factory(
        load_entrypoints=True, load_plugins=["sqs"], backends={"queue": "sqs"},
        gateway={"lease_seconds": 5, **gateway_settings},
        plugin_settings={"sqs": {"queue_url": url, "endpoint_url": aws.url, "region": "us-east-1",
                                 "visibility_timeout": 30, "wait_seconds": 1}},
    )


async def drain(gateway, workers: int = 2, timeout: float = 60.0) -> None:
    """Run worker loops until the queue is empty and every job is acknowledged."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(Worker(gateway, f"w{i}").run(stop)) for i in range(workers)]
    deadline = time.monotonic() + timeout
    zeros = 0
    try:
        while True:
            attributes = await gateway.queue._call(
                "get_queue_attributes", QueueUrl=gateway.queue.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                "ApproximateNumberOfMessagesDelayed"])
            counts = attributes["Attributes"]
            # Two empty reads in a row: moto reads its clock once per attribute, so a message whose
            # visibility ends between the reads is in no count once.
            zeros = zeros + 1 if set(counts.values()) == {"0"} else 0
            if zeros == 2:
                return
            assert time.monotonic() < deadline, f"jobs left on the queue: {counts}"
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_gateway_accepts_and_workers_deliver_through_sqs(aws, gateway_factory):
    gateway = sqs_gateway(aws, gateway_factory, job_size=2)
    await gateway.start()
    assert isinstance(gateway.queue, SqsQueue)
    recipients = [f"member{i}@example.com" for i in range(5)]
    response_id = await gateway.accept(Message(
        domain=DOMAIN, sender="Blog <noreply@mg.example.com>", to=recipients,
        subject="Hi %recipient.name%", text="Hello %recipient.name%",
        recipient_variables={r: {"name": f"M{i}"} for i, r in enumerate(recipients)},
    ))
    assert response_id.endswith(f"@{DOMAIN}>")
    assert await gateway.queue.depth() == 3  # 5 rows in jobs of 2

    # What SQS holds is a reference to stored rows, not the message.
    peek = aws.client("sqs").receive_message(QueueUrl=gateway.queue.queue_url, MaxNumberOfMessages=10,
                                             VisibilityTimeout=0)
    bodies = [json.loads(m["Body"]) for m in peek["Messages"]]
    assert all(set(b) == {"batch_id", "first_id", "last_id", "not_before"} for b in bodies)
    assert all("member" not in m["Body"] for m in peek["Messages"])

    await drain(gateway)
    emls = sorted((gateway.settings.data_dir / "outbox").rglob("*.eml"))
    assert len(emls) == 5
    batch_id = bodies[0]["batch_id"]
    rows = await gateway.storage.list_recipients(batch_id, 0, 100)
    assert sorted(r.address for r in rows) == recipients
    assert all(r.status == RecipientStatus.DELIVERED for r in rows)
    assert await gateway.readiness() == {"storage": "ok", "queue": "ok", "delivery": "ok"}


async def test_readiness_reports_the_dead_letter_queue(aws, gateway_factory):
    sqs = aws.client("sqs")
    dlq = sqs.create_queue(QueueName="postgate-jobs-dlq")["QueueUrl"]
    url = sqs.create_queue(QueueName="postgate-jobs")["QueueUrl"]
    gateway = gateway_factory(
        load_entrypoints=True, load_plugins=["sqs"], backends={"queue": "sqs"},
        plugin_settings={"sqs": {"queue_url": url, "endpoint_url": aws.url, "region": "us-east-1",
                                 "dead_letter_queue_url": dlq}},
    )
    await gateway.start()
    assert (await gateway.readiness())["sqs_dead_letter_queue"] == "ok"
    sqs.delete_queue(QueueUrl=dlq)
    assert (await gateway.readiness())["sqs_dead_letter_queue"] != "ok"


async def test_a_message_stored_while_sqs_is_down_is_accepted_and_queued_later(aws, gateway_factory):
    """The batch commit comes first, so a queue outage after it must not answer an error: the
    client would POST again (without ``v:email-id`` that is a second batch). Housekeeping queues
    the stored batch once the queue is back, and each recipient gets the message once."""
    from postgate.housekeeping import requeue_unenqueued
    from postgate.testing.fixtures import TEST_KEY, basic_auth
    from postgate.web import create_app

    gateway = sqs_gateway(aws, gateway_factory, retry_delays=[0.2])
    app = create_app(gateway, background=False)
    sqs = aws.client("sqs")
    async with app.test_app() as test_app:
        client = test_app.test_client()
        sqs.delete_queue(QueueUrl=gateway.queue.queue_url)  # the outage: every put fails
        recipients = ["down1@example.com", "down2@example.com"]
        response = await client.post(f"/v3/{DOMAIN}/messages", headers=basic_auth(TEST_KEY), form={
            "from": "Blog <noreply@mg.example.com>", "to": ",".join(recipients),
            "subject": "While the queue was down", "text": "Hello"})
        body = await response.get_json()
        assert response.status_code == 200, body
        assert body["id"].endswith(f"@{DOMAIN}>") and body["message"] == "Queued. Thank you."
        batches = await gateway.storage.unenqueued_batches(time.time() + 1, 10)
        assert [b.response_id for b in batches] == [body["id"]]  # stored, its job not confirmed

        sqs.create_queue(QueueName="postgate-jobs", Attributes={"VisibilityTimeout": "30"})  # back
        assert await requeue_unenqueued(gateway, older_than=0) == 1
        assert await requeue_unenqueued(gateway, older_than=0) == 0
        await drain(gateway)
        rows = await gateway.storage.list_recipients(batches[0].id, 0, 10)
        assert sorted(r.address for r in rows) == recipients
        assert all(r.status == RecipientStatus.DELIVERED for r in rows)
    assert len(list((gateway.settings.data_dir / "outbox").rglob("*.eml"))) == 2
