"""A send whose outcome is unknown is never repeated blindly: it is settled first."""

import asyncio
import time

from postgate import Delivery, DeliveryResult, Message, hookimpl
from postgate.domain import RecipientStatus
from postgate.worker import Worker


class UnsureDelivery(Delivery):
    """A first send per recipient 'times out' (unknown); settle() then answers from ``verdict``."""

    sends: list[str] = []
    verdict = "sent"

    async def send(self, messages):
        results = []
        for m in messages:
            first = m.recipient not in UnsureDelivery.sends
            UnsureDelivery.sends.append(m.recipient)
            results.append(DeliveryResult(m.recipient_id, "unknown", message="read timeout") if first
                           else DeliveryResult(m.recipient_id, "sent", provider_id=f"p-{m.recipient_id}"))
        return results

    async def settle(self, recipients):
        if UnsureDelivery.verdict == "sent":
            return {r.id: DeliveryResult(r.id, "sent", provider_id=f"settled-{r.id}") for r in recipients}
        return {r.id: DeliveryResult(r.id, "failed", permanent=False, message="never accepted")
                for r in recipients}


class UnsurePlugin:
    @hookimpl
    def register_deliveries(self, register):
        register("unsure", UnsureDelivery)


async def run_until_settled(gateway, count):
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(gateway, "w").run(stop))
    deadline = time.monotonic() + 30
    try:
        while await gateway.queue.depth():
            assert time.monotonic() < deadline, "the job never finished"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    return await gateway.storage.list_recipients(1, 0, count)


async def start(gateway_factory):
    UnsureDelivery.sends = []
    gateway = gateway_factory(plugins=[UnsurePlugin()], backends={"delivery": "unsure"},
                              gateway={"lease_seconds": 0.3, "retry_delays": [0.1, 0.1]})
    await gateway.start()
    await gateway.accept(Message(domain="mg.example.com", sender="a@mg.example.com",
                                 to=["x@example.com", "y@example.com"], subject="s", text="t",
                                 recipient_variables={}))
    return gateway


async def test_unknown_outcome_settled_as_sent_is_not_sent_again(gateway_factory):
    UnsureDelivery.verdict = "sent"
    gateway = await start(gateway_factory)
    rows = await run_until_settled(gateway, 2)
    assert sorted(UnsureDelivery.sends) == ["x@example.com", "y@example.com"]
    assert all(row.status is RecipientStatus.SENT for row in rows)
    assert all(row.provider_id.startswith("settled-") for row in rows)


async def test_unknown_outcome_settled_as_not_accepted_is_sent_once_more(gateway_factory):
    UnsureDelivery.verdict = "not accepted"
    gateway = await start(gateway_factory)
    rows = await run_until_settled(gateway, 2)
    assert sorted(UnsureDelivery.sends) == sorted(["x@example.com", "y@example.com"] * 2)
    assert all(row.status is RecipientStatus.SENT for row in rows)
    assert all(row.provider_id.startswith("p-") for row in rows)
