"""gateway.job_size splits a batch into several queue jobs; every recipient is still sent once."""

import asyncio
import time

from postgate import Message
from postgate.worker import Worker


async def test_batch_is_split_into_jobs_and_each_recipient_sent_once(gateway_factory):
    gateway = gateway_factory(gateway={"job_size": 100})
    await gateway.start()
    recipients = [f"member{i}@example.com" for i in range(250)]
    await gateway.accept(Message(domain="mg.example.com", sender="a@mg.example.com", to=recipients,
                                 subject="s", text="t", recipient_variables={}))
    assert await gateway.queue.depth() == 3
    stop = asyncio.Event()
    workers = [asyncio.create_task(Worker(gateway, f"w{i}").run(stop)) for i in range(2)]
    deadline = time.monotonic() + 30
    while await gateway.queue.depth():
        assert time.monotonic() < deadline, "jobs were not all acknowledged"
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*workers)
    emls = list((gateway.settings.data_dir / "outbox").rglob("*.eml"))
    assert len(emls) == 250
    from postgate.domain import EventQuery

    accepted, after = [], None
    while True:
        page = await gateway.storage.page_events(EventQuery(domain="mg.example.com", ascending=True,
                                                            limit=300, after=after))
        if not page:
            break
        accepted += [e.recipient for e in page if e.event == "accepted"]
        after = (page[-1].recorded_at, page[-1].id)
    assert sorted(accepted) == sorted(recipients)


def test_jobs_cover_the_batch_with_an_open_last_job(gateway_factory):
    gateway = gateway_factory(gateway={"job_size": 50})
    jobs = gateway.jobs_for(7, 101, 120)
    assert [(j.first_id, j.last_id) for j in jobs] == [(101, 150), (151, 200), (201, None)]
    assert all(j.batch_id == 7 for j in jobs)
    assert [(j.first_id, j.last_id) for j in gateway.jobs_for(7, 101, 50)] == [(None, None)]
    whole = gateway_factory(gateway={"job_size": 0}).jobs_for(7, 101, 120)
    assert [(j.first_id, j.last_id) for j in whole] == [(None, None)]
    # By default a batch is split into jobs of 100 rows that several worker processes share.
    default = gateway_factory().jobs_for(7, 101, 250)
    assert [(j.first_id, j.last_id) for j in default] == [(101, 200), (201, 300), (301, None)]


async def test_requeued_batch_is_split_like_an_accepted_one(gateway_factory):
    """A batch stored without a queued job (crash between commit and put) gets the same jobs."""
    from postgate.batching import build_batch
    from postgate.housekeeping import requeue_unenqueued

    gateway = gateway_factory(gateway={"job_size": 100})
    await gateway.start()
    message = Message(domain="mg.example.com", sender="a@mg.example.com",
                      to=[f"m{i}@example.com" for i in range(250)], subject="s", text="t",
                      recipient_variables={})
    created = await gateway.storage.create_batch(*build_batch(message))
    assert await gateway.queue.depth() == 0
    assert await requeue_unenqueued(gateway, older_than=0) == 1
    assert await gateway.queue.depth() == 3
    assert await requeue_unenqueued(gateway, older_than=0) == 0  # marked as queued now
    jobs = await gateway.queue.receive(max_jobs=10, wait=1)
    first = created.recipient_ids[0]
    assert sorted((j.first_id, j.last_id) for j in jobs) == [
        (first, first + 99), (first + 100, first + 199), (first + 200, None)]


async def test_a_worker_loop_holds_no_more_jobs_than_its_delivery_rate_sends_within_the_lease(gateway_factory):
    """Jobs a loop could not start within their lease stay in the queue for other processes."""
    gateway = gateway_factory(gateway={"job_size": 100, "lease_seconds": 60, "jobs_per_worker": 4})
    await gateway.start()
    worker = Worker(gateway, "w")
    assert worker.job_room() == 4  # no rate limit: jobs_per_worker
    gateway.delivery.max_rate = 5.0  # 300 rows per lease: three jobs of 100
    assert worker.job_room() == 3
    gateway.delivery.max_rate = 2.0  # 120 rows per lease: one job
    assert worker.job_room() == 1
    gateway.delivery.max_rate = 0.1  # less than one job per lease: still one at a time, never none
    assert worker.job_room() == 1
    gateway.delivery.max_rate = 1000.0
    assert worker.job_room() == 4
