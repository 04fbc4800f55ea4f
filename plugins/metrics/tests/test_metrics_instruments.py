"""The instruments on their own: what each hook's data turns into, label by label."""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import CollectorRegistry, generate_latest
from metrics_helpers import DOMAIN, Scrape

from postgate import ChunkReport, Event, Message
from postgate.worker import Worker
from postgate_metrics.exporter import exporter_for
from postgate_metrics.instruments import Instruments, recipient_count


def exposition(registry: CollectorRegistry) -> Scrape:
    return Scrape(generate_latest(registry).decode())


def test_unsettled_rows_are_counted_as_in_doubt_and_every_answer_is_timed():
    registry = CollectorRegistry()
    instruments = Instruments(registry)
    instruments.chunk_sent(ChunkReport(batch_id=7, domain="MG.Example.com", delivery="ses", recipients=10,
                                       counts={"sent": 6, "retry": 1, "failed": 0}, unsettled=3, seconds=2.5,
                                       send_seconds=(0.05, 0.07, 0.2, 0.04, 0.06, 0.05, 0.3)))
    metrics = exposition(registry)
    sends = {o: metrics.value("postgate_sends_total", domain=DOMAIN, delivery="ses", outcome=o)
             for o in metrics.label_values("postgate_sends_total", "outcome")}
    assert sends == {"sent": 6, "retry": 1, "in_doubt": 3}  # a zero count adds no series
    assert metrics.value("postgate_send_duration_seconds_count", delivery="ses") == 7
    assert metrics.value("postgate_send_duration_seconds_bucket", delivery="ses", le="0.05") == 3
    assert metrics.value("postgate_chunk_duration_seconds_sum", delivery="ses") == 2.5


def test_recipients_are_counted_once_per_distinct_address():
    message = Message(domain=DOMAIN, sender="a@mg.example.com", subject="s", text="t",
                      to=["Ann <ann@example.com>", "ANN@example.com", "ben@example.com"],
                      cc=["carl@example.com"], bcc=["Ben B <ben@example.com>", "dora@example.com"])
    assert recipient_count(message) == 4


def event(kind: str, **payload) -> Event:
    return Event(domain=DOMAIN, event=kind, recipient="x@example.com", message_id="m", payload=payload)


def test_suppressing_events_follow_the_built_in_rules():
    registry = CollectorRegistry()
    Instruments(registry).events_recorded([
        event("failed", severity="permanent", reason="bounce"),
        event("failed", severity="permanent", reason="suppress-bounce"),  # a drop, not a new entry
        event("failed", severity="temporary", reason="generic"),
        event("complained"), event("unsubscribed"), event("unsubscribed"), event("delivered"),
    ])
    metrics = exposition(registry)
    lists = {name: metrics.value("postgate_suppression_events_total", domain=DOMAIN, list=name)
             for name in metrics.label_values("postgate_suppression_events_total", "list")}
    assert lists == {"bounces": 1, "complaints": 1, "unsubscribes": 2}
    assert metrics.value("postgate_events_recorded_total", event="failed") == 3


async def test_a_sending_process_that_exports_nothing_says_so_once(gateway_factory, caplog):
    gateway = gateway_factory(load_entrypoints=True, load_plugins=["metrics"], gateway={"chunk_size": 2})
    await gateway.start()
    await gateway.accept(Message(domain=DOMAIN, sender="a@mg.example.com", subject="s", text="t",
                                 to=[f"m{i}@example.com" for i in range(5)]))
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="postgate.metrics"):
        task = asyncio.create_task(Worker(gateway, "w").run(stop))
        deadline = time.monotonic() + 30
        while await gateway.queue.depth():
            assert time.monotonic() < deadline, "the queue did not drain"
            await asyncio.sleep(0.05)
        stop.set()
        await task
    warnings = [r.getMessage() for r in caplog.records if r.name == "postgate.metrics"]
    assert len(warnings) == 1 and "multiprocess_dir is not set" in warnings[0]
    sends = exposition(exporter_for(gateway).registry).value("postgate_sends_total")
    assert sends == 5  # counted, only not served by this process
