"""Contract tests every :class:`~postgate.backends.Queue` backend runs.

Subclass :class:`QueueContract` in a test module and provide an async ``queue`` fixture that yields
a started queue with an empty backlog whose leases last :attr:`QueueContract.visibility` seconds::

    class TestMyQueue(QueueContract):
        visibility = 1.0

        @pytest_asyncio.fixture
        async def queue(self, tmp_path):
            ...
            yield my_queue
"""

from __future__ import annotations

import asyncio
import time

from ..domain import Job


class QueueContract:
    """put / receive / extend / ack / nack / ``not_before`` / visibility / exclusive leases /
    oldest_age / fail / dead_letter / list_dead / get_dead / redrive / dead_letter_depth."""

    #: Lease of a received job, in seconds, as configured by the ``queue`` fixture.
    visibility: float = 1.0

    async def test_put_then_receive_returns_the_job(self, queue):
        await queue.put([Job(batch_id=1), Job(batch_id=2, first_id=10, last_id=20)])
        jobs = await queue.receive(max_jobs=10, wait=1.0)
        assert sorted((j.batch_id, j.first_id, j.last_id) for j in jobs) == [(1, None, None), (2, 10, 20)]
        assert all(j.id is not None for j in jobs)

    async def test_receive_respects_max_jobs(self, queue):
        await queue.put([Job(batch_id=n) for n in range(5)])
        assert len(await queue.receive(max_jobs=2, wait=1.0)) == 2
        assert len(await queue.receive(max_jobs=10, wait=1.0)) == 3

    async def test_receive_waits_for_a_job_put_meanwhile(self, queue):
        async def later():
            await asyncio.sleep(0.3)
            await queue.put([Job(batch_id=9)])

        task = asyncio.create_task(later())
        jobs = await queue.receive(max_jobs=1, wait=3.0)
        await task
        assert [j.batch_id for j in jobs] == [9]

    async def test_empty_receive_returns_after_wait(self, queue):
        started = time.monotonic()
        assert await queue.receive(max_jobs=1, wait=0.3) == []
        assert 0.25 <= time.monotonic() - started < 3.0

    async def test_received_job_is_invisible_until_its_lease_expires(self, queue):
        await queue.put([Job(batch_id=1)])
        [job] = await queue.receive(max_jobs=1, wait=1.0)
        assert await queue.receive(max_jobs=1, wait=0.1) == []
        await asyncio.sleep(self.visibility + 0.3)
        again = await queue.receive(max_jobs=1, wait=1.0)
        assert [j.batch_id for j in again] == [1]

    async def test_extend_keeps_the_job_leased(self, queue):
        await queue.put([Job(batch_id=1)])
        [job] = await queue.receive(max_jobs=1, wait=1.0)
        for _ in range(3):
            await asyncio.sleep(self.visibility * 0.6)
            await queue.extend(job)
            assert await queue.receive(max_jobs=1, wait=0) == []

    async def test_ack_removes_the_job_for_good(self, queue):
        await queue.put([Job(batch_id=1), Job(batch_id=2)])
        jobs = await queue.receive(max_jobs=2, wait=1.0)
        await queue.ack(jobs)
        await asyncio.sleep(self.visibility + 0.3)
        assert await queue.receive(max_jobs=2, wait=0.2) == []

    async def test_nack_makes_the_job_visible_after_the_delay(self, queue):
        await queue.put([Job(batch_id=1)])
        [job] = await queue.receive(max_jobs=1, wait=1.0)
        await queue.nack(job, 0)
        [again] = await queue.receive(max_jobs=1, wait=1.0)
        await queue.nack(again, 0.6)
        assert await queue.receive(max_jobs=1, wait=0.2) == []
        later = await queue.receive(max_jobs=1, wait=2.0)
        assert [j.batch_id for j in later] == [1]

    async def test_not_before_holds_a_job_back(self, queue):
        await queue.put([Job(batch_id=1, not_before=time.time() + 0.6)])
        assert await queue.receive(max_jobs=1, wait=0.2) == []
        later = await queue.receive(max_jobs=1, wait=2.0)
        assert [j.batch_id for j in later] == [1]

    async def test_two_receivers_never_get_the_same_job(self, queue):
        await queue.put([Job(batch_id=n) for n in range(40)])

        async def take() -> list[int]:
            got: list[int] = []
            while True:
                jobs = await queue.receive(max_jobs=3, wait=0.2)
                if not jobs:
                    return got
                got.extend(j.batch_id for j in jobs)

        first, second = await asyncio.gather(take(), take())
        assert not set(first) & set(second)
        assert sorted(first + second) == list(range(40))

    async def test_put_is_durable_before_it_returns(self, queue):
        await queue.put([Job(batch_id=5)])
        depth = await queue.depth()
        assert depth is None or depth == 1

    async def test_oldest_age_is_unknown_or_the_age_of_the_oldest_job(self, queue):
        assert await queue.oldest_age() is None  # nothing queued (or the queue cannot tell)
        before = time.time()
        await queue.put([Job(batch_id=1)])
        await asyncio.sleep(0.3)
        await queue.put([Job(batch_id=2)])
        age = await queue.oldest_age()
        assert age is None or 0.3 <= age <= time.time() - before  # job 1's age, not job 2's
        jobs = await queue.receive(max_jobs=2, wait=1.0)
        if len(jobs) < 2:
            jobs += await queue.receive(max_jobs=1, wait=1.0)
        leased = await queue.oldest_age()
        assert leased is None or leased >= age  # a job being worked on still counts
        await queue.ack(jobs)
        assert await queue.oldest_age() is None

    # -- failed jobs and dead letters ----------------------------------------------------------

    async def test_fail_counts_failures_durably_and_releases_after_the_delay(self, queue):
        await queue.put([Job(batch_id=1, first_id=3, last_id=4)])
        [job] = await queue.receive(max_jobs=1, wait=1.0)
        assert job.failures == 0
        await queue.fail(job, 0, "TypeError: boom")
        [again] = await queue.receive(max_jobs=1, wait=2.0)
        assert (again.batch_id, again.first_id, again.last_id, again.failures) == (1, 3, 4, 1)
        await queue.fail(again, 1.0, "TypeError: boom")
        assert await queue.receive(max_jobs=1, wait=0.3) == []
        [third] = await queue.receive(max_jobs=1, wait=3.0)
        assert third.failures == 2
        await queue.nack(third, 0)  # a deliberate release is not a failure
        [fourth] = await queue.receive(max_jobs=1, wait=2.0)
        assert fourth.failures == 2

    async def test_dead_letter_then_list_inspect_and_redrive(self, queue):
        await queue.put([Job(batch_id=7, first_id=10, last_id=19), Job(batch_id=8)])
        jobs = await queue.receive(max_jobs=2, wait=1.0)
        if len(jobs) < 2:
            jobs += await queue.receive(max_jobs=1, wait=1.0)
        doomed = next(j for j in jobs if j.batch_id == 7)
        await queue.ack([j for j in jobs if j.batch_id == 8])
        await queue.fail(doomed, 0, "ValueError: bad")
        [doomed] = await queue.receive(max_jobs=1, wait=2.0)
        assert doomed.failures == 1
        assert await queue.dead_letter_depth() in (None, 0)
        await queue.dead_letter(doomed, "batch content cannot be decoded: ValueError: bad")
        assert await queue.dead_letter_depth() in (None, 1)  # None: the queue cannot count them
        await asyncio.sleep(self.visibility + 0.3)
        # Dead: never received again, even after its lease would have run out.
        assert await queue.receive(max_jobs=5, wait=0.3) == []
        depth = await queue.depth()
        assert depth is None or depth == 0  # a dead letter is not waiting work
        [dead] = await queue.list_dead(10)
        assert (dead.job.batch_id, dead.job.first_id, dead.job.last_id) == (7, 10, 19)
        assert dead.failures == 1 and dead.reason == "batch content cannot be decoded: ValueError: bad"
        assert dead.dead_at is not None and abs(dead.dead_at - time.time()) < 60
        assert await queue.list_dead(10) == [dead]  # listing changes nothing
        assert await queue.get_dead(dead.id) == dead
        assert await queue.get_dead("no-such-dead-letter") is None
        assert await queue.redrive("no-such-dead-letter") is None
        redriven = await queue.redrive(dead.id)
        assert redriven is not None and redriven.job.batch_id == 7
        assert await queue.list_dead(10) == []
        assert await queue.dead_letter_depth() in (None, 0)
        assert await queue.redrive(dead.id) is None
        [back] = await queue.receive(max_jobs=1, wait=2.0)
        assert (back.batch_id, back.first_id, back.last_id, back.failures) == (7, 10, 19, 0)
