"""The built-in ``local`` queue passes the queue contract."""

from __future__ import annotations

import pytest_asyncio

from postgate.testing.queue_contract import QueueContract


class TestLocalQueue(QueueContract):
    visibility = 0.8

    @pytest_asyncio.fixture
    async def queue(self, gateway_factory):
        gateway = gateway_factory(gateway={"lease_seconds": self.visibility})
        await gateway.start()
        yield gateway.queue


async def test_jobs_survive_a_restart(tmp_path):
    """Durable: a job put by one gateway is received by the next one on the same data folder."""
    from postgate import Gateway, Job
    from postgate.builtin.local_queue import LocalQueue
    from postgate.testing.fixtures import make_settings

    first = Gateway(make_settings(tmp_path), load_entrypoints=False)
    await first.start()
    assert isinstance(first.queue, LocalQueue)
    await first.queue.put([Job(batch_id=42, first_id=1, last_id=9)])
    await first.stop()
    second = Gateway(make_settings(tmp_path), load_entrypoints=False)
    await second.start()
    try:
        jobs = await second.queue.receive(max_jobs=5, wait=1)
        assert [(j.batch_id, j.first_id, j.last_id) for j in jobs] == [(42, 1, 9)]
    finally:
        await second.stop()
