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
