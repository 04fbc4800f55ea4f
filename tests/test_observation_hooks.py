"""The observation hooks: ``chunk_sent`` reports what each chunk came to, and a listener that
raises never breaks sending or the other listeners."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from postgate.domain import ChunkReport, EventQuery, Message
from postgate.hookspecs import hookimpl
from postgate.worker import Worker

SIM = "simulator.amazonses.com"
DOMAIN = "mg.example.com"

FAST = {"lease_seconds": 1.0, "retry_delays": [0.2, 0.4, 0.8], "chunk_size": 3}


def batch(addresses: list[str]) -> Message:
    return Message(domain=DOMAIN, sender="Blog <noreply@mg.example.com>", to=addresses,
                   subject="Hello %recipient.name%", html="<p>Hi %recipient.name%</p>",
                   recipient_variables={a: {"name": f"M{i}"} for i, a in enumerate(addresses)})


async def drain(gw, timeout: float = 30.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(gw, "w").run(stop))
    deadline = time.monotonic() + timeout
    try:
        while await gw.queue.depth():
            assert time.monotonic() < deadline, "the queue did not drain"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def delivered(gw) -> int:
    page = await gw.storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=300))
    return sum(1 for e in page if e.event == "delivered")


class Reports:
    def __init__(self) -> None:
        self.chunks: list[ChunkReport] = []
        self.states: list[tuple[str, str]] = []

    @hookimpl
    def chunk_sent(self, report):
        self.chunks.append(report)

    @hookimpl
    def delivery_state_changed(self, state, reason):
        self.states.append((state, reason))


class Broken:
    @hookimpl
    def chunk_sent(self, report):
        raise RuntimeError("a listener that fails")


async def test_chunk_reports_add_up_to_the_batch_and_name_no_address(gateway_factory):
    reports = Reports()
    gw = gateway_factory(plugins=[Broken(), reports], gateway=FAST)
    await gw.start()
    kinds = ["success", "bounce", "tempfail", "success+label", "ooto"]
    addresses = [f"{kind}@{SIM}" for kind in kinds] + [f"m{i}@example.com" for i in range(4)]
    message_id = await gw.accept(batch(addresses))
    await drain(gw)

    assert await delivered(gw) == 8  # the broken listener changed nothing
    chunks = reports.chunks
    assert chunks and all(c.domain == "mg.example.com" and c.delivery == "outbox" for c in chunks)
    assert all(c.recipients <= 3 for c in chunks)
    total: dict[str, int] = {}
    for chunk in chunks:
        assert sum(chunk.counts.values()) + chunk.unsettled == chunk.recipients
        for status, n in chunk.counts.items():
            total[status] = total.get(status, 0) + n
    # tempfail is retried once, then delivered; bounce fails for good.
    assert total == {"delivered": 8, "failed": 1, "retry": 1}
    failures = [f for c in chunks for f in c.failures]
    assert len(failures) == 1 and failures[0][1].startswith("550") and "does not exist" in failures[0][1]
    answers = sum(len(c.send_seconds) for c in chunks)
    assert answers == 10 and all(s >= 0 for c in chunks for s in c.send_seconds)
    assert {c.message_id for c in chunks} == {message_id}  # "<…@mg.example.com>": ties to the accepted batch
    text = repr([dataclasses.replace(c, message_id="") for c in chunks])
    assert "@" not in text  # no address travels in a report


async def test_report_delivery_state_reaches_listeners(gateway_factory):
    reports = Reports()
    gw = gateway_factory(plugins=[reports])
    gw.report_delivery_state("paused", "daily-quota: Daily message quota exceeded", 60.0)
    gw.report_delivery_state("resumed", "the daily quota has room again")
    assert reports.states == [("paused", "daily-quota: Daily message quota exceeded"),
                              ("resumed", "the daily quota has room again")]
