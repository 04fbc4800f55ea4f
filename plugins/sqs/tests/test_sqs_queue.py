"""The ``sqs`` queue backend on moto's SQS server: the core queue contract, then SQS specifics."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import pytest_asyncio

from postgate import ConfigError, Job
from postgate.testing.queue_contract import QueueContract
from postgate_sqs.queue import SqsQueue, SqsQueueError, decode_job, encode_job
from postgate_sqs.settings import SqsSettings

REGION = "us-east-1"


def make_queue_settings(aws, url: str, **overrides) -> dict:
    return {"queue_url": url, "endpoint_url": aws.url, "region": REGION, **overrides}


@pytest_asyncio.fixture
async def sqs_queues(aws, gateway_factory):
    """``make(url, **settings) -> started SqsQueue`` on a gateway whose queue backend is ``sqs``."""
    made: list[SqsQueue] = []

    async def make(url: str, **overrides) -> SqsQueue:
        gateway = gateway_factory(load_entrypoints=True, load_plugins=["sqs"], backends={"queue": "sqs"},
                                  plugin_settings={"sqs": make_queue_settings(aws, url, **overrides)})
        queue = SqsQueue(gateway)
        await queue.start()
        made.append(queue)
        return queue

    yield make
    for queue in made:
        await queue.stop()


def create_queue(aws, name: str = "postgate-jobs", visibility: int = 2, **attributes: str) -> str:
    return aws.client("sqs").create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": str(visibility), **attributes}
    )["QueueUrl"]


def queue_arn(aws, url: str) -> str:
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


class TestSqsQueue(QueueContract):
    """The contract every queue passes. SQS counts whole seconds; leases last 3 s here, enough
    for two receivers to drain 40 jobs from a busy moto before any lease runs out. The automatic
    heartbeat is off because the contract watches leases run out. The queue has a dead-letter
    queue through its redrive policy (found from it: no ``dead_letter_queue_url``)."""

    visibility = 3.0

    @pytest_asyncio.fixture
    async def queue(self, aws, sqs_queues):
        dlq_arn = queue_arn(aws, create_queue(aws, "postgate-jobs-dlq", visibility=30))
        url = create_queue(aws, visibility=int(self.visibility),
                           RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 100}))
        yield await sqs_queues(url, visibility_timeout=int(self.visibility), heartbeat=False)


# -- message bodies -----------------------------------------------------------------------------


def test_body_is_a_small_reference():
    body = encode_job(Job(batch_id=12, first_id=1001, last_id=1050, not_before=1.5e9))
    assert json.loads(body) == {"batch_id": 12, "first_id": 1001, "last_id": 1050, "not_before": 1.5e9}
    job, previous = decode_job(body)
    assert (job.batch_id, job.first_id, job.last_id, job.not_before, previous) == (12, 1001, 1050, 1.5e9, 0)
    assert decode_job(encode_job(Job(batch_id=3), previous_attempts=4))[1] == 4


@pytest.mark.parametrize("body", ["", "[1]", '{"first_id": 1}', '{"batch_id": "7"}',
                                  '{"batch_id": 7, "not_before": "soon"}'])
def test_foreign_bodies_are_refused(body):
    with pytest.raises(ValueError):
        decode_job(body)


# -- settings and start-up ----------------------------------------------------------------------


def test_settings_defaults_and_limits():
    settings = SqsSettings()
    assert (settings.wait_seconds, settings.visibility_timeout, settings.max_messages) == (20, 60, 10)
    with pytest.raises(ValueError):
        SqsSettings(wait_seconds=21)
    with pytest.raises(ValueError):
        SqsSettings(max_messages=11)
    with pytest.raises(ValueError):
        SqsSettings(bogus=1)
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/postgate-jobs"
    assert SqsSettings(queue_url=url).resolved_region() == "eu-west-1"
    assert SqsSettings(queue_url=url, region="us-east-2").resolved_region() == "us-east-2"
    assert SqsSettings(queue_url="http://127.0.0.1:4566/000000000000/jobs").resolved_region() is None


async def test_missing_queue_url_is_a_clear_startup_error(gateway_factory):
    gateway = gateway_factory(load_entrypoints=True, load_plugins=["sqs"], backends={"queue": "sqs"})
    with pytest.raises(ConfigError, match="queue_url"):
        await gateway.start()


async def test_a_queue_that_does_not_exist_is_a_clear_startup_error(aws, sqs_queues):
    with pytest.raises(ConfigError, match="does not exist"):
        await sqs_queues(f"{aws.url}/123456789012/no-such-queue")


async def test_sqs_settings_are_not_required_when_another_queue_is_used(gateway_factory):
    gateway = gateway_factory(load_entrypoints=True, load_plugins=["sqs"])
    await gateway.start()
    assert gateway.queue.name == "local"


# -- SQS specifics ------------------------------------------------------------------------------


class CallCounter:
    """Counts the boto3 calls a queue makes, by operation name."""

    def __init__(self, queue: SqsQueue) -> None:
        self.calls: dict[str, list[dict]] = {}
        original = queue._call

        async def counting(method, **kwargs):
            self.calls.setdefault(method, []).append(kwargs)
            return await original(method, **kwargs)

        queue._call = counting

    def count(self, method: str) -> int:
        return len(self.calls.get(method, []))


async def test_25_jobs_go_in_3_calls_and_are_received_and_acked_in_batches(aws, sqs_queues):
    queue = await sqs_queues(create_queue(aws, visibility=30), visibility_timeout=30)
    counter = CallCounter(queue)
    await queue.put([Job(batch_id=1, first_id=n * 50 + 1, last_id=n * 50 + 50) for n in range(25)])
    assert counter.count("send_message_batch") == 3
    assert await queue.depth() == 25

    jobs = await queue.receive(max_jobs=25, wait=1.0)
    assert len(jobs) == 25
    assert sorted(j.first_id for j in jobs) == [n * 50 + 1 for n in range(25)]
    assert all(j.attempts == 1 and j.receipt and j.id for j in jobs)
    assert all(call["MaxNumberOfMessages"] <= 10 for call in counter.calls["receive_message"])
    assert 3 <= counter.count("receive_message") <= 4

    await queue.ack(jobs)
    assert counter.count("delete_message_batch") == 3
    assert await queue.depth() == 0
    assert await queue.receive(max_jobs=10, wait=0) == []
    assert not queue._leases


async def test_a_refused_entry_makes_put_raise(aws, sqs_queues):
    url = create_queue(aws, visibility=30)
    queue = await sqs_queues(url)

    async def refusing(method, **kwargs):
        entries = kwargs["Entries"]
        return {"Successful": [{"Id": e["Id"]} for e in entries[1:]],
                "Failed": [{"Id": entries[0]["Id"], "SenderFault": True, "Code": "InvalidParameterValue",
                            "Message": "refused"}]}

    queue._call = refusing
    with pytest.raises(SqsQueueError, match="1 of 3"):
        await queue.put([Job(batch_id=n) for n in range(3)])


async def test_server_side_failures_are_tried_once_more(aws, sqs_queues):
    queue = await sqs_queues(create_queue(aws, visibility=30))
    original = queue._call
    attempts = []

    async def flaky(method, **kwargs):
        if method == "send_message_batch" and not attempts:
            attempts.append(kwargs)
            entries = kwargs["Entries"]
            sent = await original(method, QueueUrl=kwargs["QueueUrl"], Entries=entries[1:])
            sent["Failed"] = [{"Id": entries[0]["Id"], "SenderFault": False, "Code": "InternalError"}]
            return sent
        return await original(method, **kwargs)

    queue._call = flaky
    await queue.put([Job(batch_id=n) for n in range(3)])
    assert await queue.depth() == 3


async def test_an_idle_worker_wait_is_one_long_poll(aws, sqs_queues):
    queue = await sqs_queues(create_queue(aws), wait_seconds=20)
    counter = CallCounter(queue)
    started = time.monotonic()
    assert await queue.receive(max_jobs=4, wait=1.0) == []
    assert time.monotonic() - started >= 0.9  # it waited (how much longer is the machine's load)
    assert [call["WaitTimeSeconds"] for call in counter.calls["receive_message"]] == [1]


async def test_long_polls_are_capped_by_wait_seconds(aws, sqs_queues):
    queue = await sqs_queues(create_queue(aws), wait_seconds=2)
    counter = CallCounter(queue)
    started = time.monotonic()
    assert await queue.receive(max_jobs=1, wait=5.0) == []
    assert time.monotonic() - started >= 4.9
    waits = [call["WaitTimeSeconds"] for call in counter.calls["receive_message"]]
    # Each poll capped at 2 s, together never longer than the 5 s asked for. (After a poll slowed
    # by a loaded machine less is left: the next may be shorter, or a short poll.)
    assert waits[0] == 2 and max(waits) == 2 and sum(waits) <= 5, waits


async def test_heartbeat_keeps_a_long_job_invisible_past_the_visibility_timeout(aws, sqs_queues):
    url = create_queue(aws, visibility=3)
    worker = await sqs_queues(url, visibility_timeout=3)
    other = await sqs_queues(url, visibility_timeout=3)
    await worker.put([Job(batch_id=1)])
    [job] = await worker.receive(max_jobs=1, wait=1.0)
    # A slow chunk: no extend() from the worker for twice the timeout; the heartbeat renews it.
    deadline = time.monotonic() + 7
    while time.monotonic() < deadline:
        assert await other.receive(max_jobs=1, wait=1.0) == []
    await worker.ack([job])
    assert not worker._leases
    await asyncio.sleep(3.3)
    assert await other.receive(max_jobs=1, wait=0) == []


async def test_without_heartbeat_a_lease_runs_out(aws, sqs_queues):
    url = create_queue(aws, visibility=1)
    worker = await sqs_queues(url, visibility_timeout=1, heartbeat=False)
    await worker.put([Job(batch_id=1)])
    [job] = await worker.receive(max_jobs=1, wait=1.0)
    await asyncio.sleep(1.3)
    [again] = await worker.receive(max_jobs=1, wait=1.0)
    assert again.attempts == 2 and again.receipt != job.receipt


async def test_nack_stops_the_heartbeat(aws, sqs_queues):
    url = create_queue(aws, visibility=3)
    queue = await sqs_queues(url, visibility_timeout=3)
    await queue.put([Job(batch_id=1)])
    [job] = await queue.receive(max_jobs=1, wait=1.0)
    beat = queue._leases[job.receipt].heartbeat
    await queue.nack(job, 0)
    assert beat.done() and not queue._leases
    [again] = await queue.receive(max_jobs=1, wait=1.0)
    assert again.batch_id == 1


async def test_redrive_moves_a_job_nobody_finishes_to_the_dead_letter_queue(aws, sqs_queues, caplog):
    sqs = aws.client("sqs")
    dlq_url = create_queue(aws, "postgate-jobs-dlq", visibility=30)
    dlq_arn = queue_arn(aws, dlq_url)
    url = create_queue(aws, visibility=1,
                       RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    queue = await sqs_queues(url, visibility_timeout=1, heartbeat=False, max_receive_count_warning=2,
                             dead_letter_queue_url=dlq_url)
    assert queue.max_receive_count == 2
    await queue.put([Job(batch_id=7, first_id=1, last_id=50)])

    seen = []
    for _ in range(2):  # a worker that dies on the job each time: no ack, no nack
        [job] = await queue.receive(max_jobs=1, wait=2.0)
        seen.append(job.attempts)
        await asyncio.sleep(1.2)
    assert seen == [1, 2]
    assert "received 2 times" in caplog.text and "dead-letter queue" in caplog.text

    assert await queue.receive(max_jobs=1, wait=1.0) == []
    assert await queue.dead_letter_depth() == 1
    with caplog.at_level("WARNING", logger="postgate.sqs"):
        await queue.check_dead_letters()
    assert "1 jobs wait in the SQS dead-letter queue" in caplog.text
    [dead] = sqs.receive_message(QueueUrl=dlq_url)["Messages"]
    assert decode_job(dead["Body"])[0].batch_id == 7


async def test_jobs_moved_by_the_redrive_policy_are_listed_and_redriven(aws, sqs_queues):
    dlq_url = create_queue(aws, "postgate-jobs-dlq", visibility=30)
    url = create_queue(aws, visibility=1, RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": queue_arn(aws, dlq_url), "maxReceiveCount": 1}))
    queue = await sqs_queues(url, visibility_timeout=1, heartbeat=False)
    await queue.put([Job(batch_id=7, first_id=1, last_id=50)])
    [job] = await queue.receive(max_jobs=1, wait=2.0)  # its worker dies
    await asyncio.sleep(1.2)
    assert await queue.receive(max_jobs=1, wait=1.0) == []
    [dead] = await queue.list_dead()
    assert (dead.job.batch_id, dead.job.first_id, dead.dead_at) == (7, 1, None)
    assert "redrive policy" in dead.reason
    assert await queue.redrive(dead.id) == dead
    [back] = await queue.receive(max_jobs=1, wait=2.0)
    assert (back.batch_id, back.first_id, back.last_id, back.failures) == (7, 1, 50, 0)
    assert await queue.list_dead() == []


async def test_failures_survive_a_repost_and_dead_letters_carry_their_reason(aws, sqs_queues):
    sqs = aws.client("sqs")
    dlq_url = create_queue(aws, "postgate-jobs-dlq", visibility=30)
    url = create_queue(aws, visibility=5, RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": queue_arn(aws, dlq_url), "maxReceiveCount": 2}))
    queue = await sqs_queues(url, visibility_timeout=5, dead_letter_queue_url=dlq_url)
    await queue.put([Job(batch_id=3)])
    [job] = await queue.receive(max_jobs=1, wait=2.0)
    await queue.fail(job, 0, "TypeError: x")
    for _ in range(3):  # deliberate releases near maxReceiveCount re-post the message
        [job] = await queue.receive(max_jobs=1, wait=2.0)
        assert job.failures == 1
        await queue.nack(job, 0)
    [job] = await queue.receive(max_jobs=1, wait=2.0)
    await queue.dead_letter(job, "gave up: TypeError: x")
    assert await queue.depth() == 0
    [message] = sqs.receive_message(QueueUrl=dlq_url, VisibilityTimeout=0)["Messages"]
    body = json.loads(message["Body"])
    assert (body["batch_id"], body["failures"], body["reason"]) == (3, 1, "gave up: TypeError: x")
    assert abs(body["dead_at"] - time.time()) < 60


async def test_dead_letters_need_a_dead_letter_queue(aws, sqs_queues):
    queue = await sqs_queues(create_queue(aws, visibility=5), visibility_timeout=5)
    await queue.put([Job(batch_id=3)])
    [job] = await queue.receive(max_jobs=1, wait=2.0)
    with pytest.raises(SqsQueueError, match="no dead-letter queue"):
        await queue.dead_letter(job, "x")
    with pytest.raises(SqsQueueError, match="redrive policy"):
        await queue.list_dead()


async def test_a_released_job_never_goes_to_the_dead_letter_queue(aws, sqs_queues):
    sqs = aws.client("sqs")
    dlq_url = create_queue(aws, "postgate-jobs-dlq", visibility=30)
    dlq_arn = queue_arn(aws, dlq_url)
    url = create_queue(aws, visibility=5,
                       RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    queue = await sqs_queues(url, visibility_timeout=5)
    await queue.put([Job(batch_id=3)])
    attempts = []
    for _ in range(5):  # a job with rows to retry: the worker releases it again and again
        [job] = await queue.receive(max_jobs=1, wait=2.0)
        attempts.append(job.attempts)
        await queue.nack(job, 0)
    assert attempts == [1, 2, 3, 4, 5]
    assert await queue.dead_letter_depth() == 0  # found from the redrive policy
    assert int(sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
               ["Attributes"]["ApproximateNumberOfMessages"]) == 0
    assert await queue.depth() == 1


async def test_a_long_delay_is_held_back_beyond_sqs_limits(aws, sqs_queues):
    queue = await sqs_queues(create_queue(aws, visibility=30), visibility_timeout=30)
    counter = CallCounter(queue)
    await queue.put([Job(batch_id=1, not_before=time.time() + 3 * 86400)])
    [entry] = counter.calls["send_message_batch"][0]["Entries"]
    assert entry["DelaySeconds"] == 900
    assert await queue.receive(max_jobs=10, wait=0) == []

    # The 15 minutes of DelaySeconds are over but the job is not due: hidden for 12 hours.
    sqs = aws.client("sqs")
    tomorrow = encode_job(Job(batch_id=2, not_before=time.time() + 86400))
    sqs.send_message(QueueUrl=queue.queue_url, MessageBody=tomorrow)
    assert await queue.receive(max_jobs=10, wait=0) == []
    [hide] = counter.calls["change_message_visibility_batch"][-1]["Entries"]
    assert 42000 < hide["VisibilityTimeout"] < 43200

    # Near the redrive policy's maxReceiveCount it is re-posted instead, keeping its due time.
    queue.max_receive_count = 2
    due = time.time() + 3600
    sqs.send_message(QueueUrl=queue.queue_url, MessageBody=encode_job(Job(batch_id=3, not_before=due)))
    assert await queue.receive(max_jobs=10, wait=0) == []
    [entry] = counter.calls["send_message_batch"][-1]["Entries"]
    assert decode_job(entry["MessageBody"])[0].not_before == due and entry["DelaySeconds"] == 900
    assert counter.count("delete_message_batch") == 1


async def test_nack_beyond_twelve_hours_reposts_the_job_with_its_due_time(aws, sqs_queues):
    queue = await sqs_queues(create_queue(aws, visibility=30), visibility_timeout=30)
    await queue.put([Job(batch_id=4, first_id=1, last_id=2)])
    [job] = await queue.receive(max_jobs=1, wait=1.0)
    counter = CallCounter(queue)
    await queue.nack(job, 3 * 86400)
    [entry] = counter.calls["send_message_batch"][0]["Entries"]
    reposted, previous = decode_job(entry["MessageBody"])
    assert (reposted.batch_id, reposted.first_id, reposted.last_id, previous) == (4, 1, 2, 1)
    assert reposted.not_before == pytest.approx(time.time() + 3 * 86400, abs=5)
    assert entry["DelaySeconds"] == 900
    assert counter.count("delete_message_batch") == 1


async def test_two_processes_never_hold_the_same_job_at_once(aws, sqs_queues):
    url = create_queue(aws, visibility=30)
    first = await sqs_queues(url, visibility_timeout=30)
    second = await sqs_queues(url, visibility_timeout=30)
    await first.put([Job(batch_id=n) for n in range(30)])
    held: dict[int, str] = {}
    done: list[int] = []

    async def work(queue: SqsQueue, name: str) -> None:
        while True:
            jobs = await queue.receive(max_jobs=4, wait=1.0)
            if not jobs:
                return
            for job in jobs:
                assert job.batch_id not in held, f"{name} got a job {held.get(job.batch_id)} holds"
                held[job.batch_id] = name
            await asyncio.sleep(0.05)
            for job in jobs:
                del held[job.batch_id]
                done.append(job.batch_id)
            await queue.ack(jobs)

    await asyncio.gather(work(first, "first"), work(second, "second"))
    assert sorted(done) == list(range(30))


async def test_cancelled_receive_releases_what_it_leased(aws, sqs_queues):
    url = create_queue(aws, visibility=30)
    queue = await sqs_queues(url, visibility_timeout=30)
    receiving = asyncio.ensure_future(queue.receive(max_jobs=1, wait=5.0))
    await asyncio.sleep(0.3)
    # Blocks the loop on purpose: the long poll gets the job, the receive cannot return it.
    aws.client("sqs").send_message(QueueUrl=url, MessageBody=encode_job(Job(batch_id=8)))
    receiving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await receiving
    jobs = await queue.receive(max_jobs=1, wait=3.0)
    assert [j.batch_id for j in jobs] == [8]


async def test_check_reads_the_queue(aws, sqs_queues):
    queue = await sqs_queues(create_queue(aws))
    await queue.check()
    aws.client("sqs").delete_queue(QueueUrl=queue.queue_url)
    with pytest.raises(Exception):
        await queue.check()


async def test_stop_releases_jobs_whose_worker_is_gone(aws, sqs_queues):
    url = create_queue(aws, visibility=30)
    leaving = await sqs_queues(url, visibility_timeout=30)
    staying = await sqs_queues(url, visibility_timeout=30)
    await leaving.put([Job(batch_id=1), Job(batch_id=2)])
    assert len(await leaving.receive(max_jobs=2, wait=1.0)) == 2
    await leaving.stop()  # its worker was cancelled mid-job: neither ack nor nack came
    jobs = await staying.receive(max_jobs=2, wait=2.0)
    assert sorted(j.batch_id for j in jobs) == [1, 2]
