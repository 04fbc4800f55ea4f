"""The operations snapshot over a real gateway sending a batch through the outbox."""

from __future__ import annotations

import asyncio
import gc
import time
import warnings

import pytest

from postgate import Message, hookimpl
from postgate.builtin.outbox import Outbox
from postgate.domain import BatchCounts
from postgate.operations import RATE_WINDOW, OperationsSnapshot, batch_progress, newsletters
from postgate.worker import Worker

RECIPIENTS = 300
CHUNK = 20


class GatedOutbox(Outbox):
    """The outbox, holding every send after the first ``open_sends`` messages until ``gate`` is set."""

    name = "gated"
    max_rate = 5000.0
    open_sends = 100

    def __init__(self, gateway) -> None:
        super().__init__(gateway)
        self.gate = asyncio.Event()
        self.held = asyncio.Event()
        self.sent = 0

    async def send(self, messages):
        if self.sent >= self.open_sends:
            self.held.set()
            await self.gate.wait()
        self.sent += len(messages)
        return await super().send(messages)


class GatedPlugin:
    @hookimpl
    def register_deliveries(self, register):
        register("gated", GatedOutbox)


def newsletter(count: int, start: int = 0) -> Message:
    """One batch of Ghost's email ``ghost-email-1`` (Ghost posts 1,000 recipients per batch)."""
    to = [f"member{i}@example.org" for i in range(start, start + count)]
    return Message(domain="mg.example.com", sender="Blog <blog@mg.example.com>", to=to, subject="Issue 1",
                   text="Hello %recipient.n%", variables={"email-id": "ghost-email-1"}, tags=["newsletter"],
                   recipient_variables={a: {"n": str(i)} for i, a in enumerate(to)})


def check_consistent(snapshot: OperationsSnapshot) -> None:
    for batch in [*snapshot.batches, *snapshot.newsletters]:
        assert sum(batch.counts.values()) == batch.total
        assert batch.done == sum(n for s, n in batch.counts.items()
                                 if s in ("sent", "delivered", "failed", "suppressed"))
        assert 0 <= batch.done <= batch.total
        assert batch.eta_seconds is None or batch.eta_seconds >= 0
        assert batch.rate is None or batch.rate >= 0
    assert snapshot.in_doubt == sum(b.in_doubt for b in snapshot.batches)


async def test_snapshots_follow_a_batch_mid_send_and_after(gateway_factory):
    gateway = gateway_factory(plugins=[GatedPlugin()], backends={"delivery": "gated"},
                              gateway={"chunk_size": CHUNK, "job_size": 100})
    await gateway.start()
    empty = await gateway.operations_snapshot()
    assert (empty.batches, empty.queue_depth, empty.oldest_job_age, empty.in_doubt, empty.dead_jobs) == (
        [], 0, None, 0, 0)
    assert (empty.quota.max_rate, empty.quota.max_24h, empty.quota.source) == (5000.0, None, "max_rate")

    half = RECIPIENTS // 2
    await gateway.accept(newsletter(half))
    await gateway.accept(newsletter(half, start=half))
    queued = await gateway.operations_snapshot()
    assert [(b.email_id, b.tags, b.domain, b.total, b.counts) for b in queued.batches] == [
        ("ghost-email-1", ["newsletter"], "mg.example.com", half, {"queued": half})] * 2
    [letter] = queued.newsletters
    assert (letter.batch_count, letter.total, letter.done, letter.counts) == (
        2, RECIPIENTS, 0, {"queued": RECIPIENTS})
    assert letter.batch_id == queued.batches[0].batch_id
    assert queued.queue_depth == 4 and queued.oldest_job_age is not None and queued.oldest_job_age >= 0

    stop = asyncio.Event()
    workers = [asyncio.create_task(Worker(gateway, f"w{i}").run(stop)) for i in range(2)]
    try:
        await asyncio.wait_for(gateway.delivery.held.wait(), 30)
        mid = await gateway.operations_snapshot()
        check_consistent(mid)
        [batch] = mid.newsletters
        assert 0 < batch.done < RECIPIENTS
        assert batch.done == sum(b.done for b in mid.batches)
        assert batch.counts.get("sending", 0) > 0  # the held sends
        assert batch.in_doubt == 0  # leases still live
        assert mid.queue_depth and mid.queue_depth >= 1
        gateway.delivery.gate.set()
        deadline = time.monotonic() + 60
        while (await gateway.queue.depth()) != 0:
            assert time.monotonic() < deadline, "the batch did not finish"
            await asyncio.sleep(0.05)
    finally:
        gateway.delivery.gate.set()
        stop.set()
        await asyncio.gather(*workers)

    after = await gateway.operations_snapshot()
    check_consistent(after)
    [batch] = after.newsletters  # finished within the rate window: still shown
    assert (batch.done, batch.total, batch.counts) == (RECIPIENTS, RECIPIENTS, {"delivered": RECIPIENTS})
    assert batch.eta_seconds == 0.0 and batch.finished and (batch.rate is None or batch.rate > 0)
    assert [(b.done, b.total) for b in after.batches] == [(half, half)] * 2
    assert (after.queue_depth, after.oldest_job_age, after.in_doubt, after.dead_jobs) == (0, None, 0, 0)
    data = after.to_dict()
    assert data["newsletters"][0]["counts"] == {"delivered": RECIPIENTS}
    assert data["batches"][1]["counts"] == {"delivered": half}
    assert data["quota"]["max_rate"] == 5000.0


def counts(**kw) -> BatchCounts:
    base = dict(batch_id=1, domain="d", email_id=None, tags=[], created_at=1000.0, deliver_at=None,
                counts={"queued": 60, "delivered": 40}, in_doubt=0, finished_since=30, last_finished_at=1055.0)
    base.update(kw)
    return BatchCounts(**base)


def test_rate_and_eta_from_the_rows_finished_in_the_window():
    now = 1000.0 + 2 * RATE_WINDOW
    progress = batch_progress(counts(), since=now - RATE_WINDOW, now=now)
    assert progress.rate == 30 / RATE_WINDOW
    assert progress.eta_seconds == 60 / (30 / RATE_WINDOW)
    young = batch_progress(counts(created_at=now - 10), since=now - RATE_WINDOW, now=now)
    assert young.rate == 3.0  # measured over the 10 s the batch has existed
    stalled = batch_progress(counts(finished_since=0), since=now - RATE_WINDOW, now=now)
    assert (stalled.rate, stalled.eta_seconds) == (0.0, None)
    scheduled = batch_progress(counts(deliver_at=now + 600), since=now - RATE_WINDOW, now=now)
    assert scheduled.eta_seconds is None
    done = batch_progress(counts(counts={"delivered": 90, "failed": 10}), since=now - RATE_WINDOW, now=now)
    assert (done.done, done.total, done.eta_seconds) == (100, 100, 0.0)


def test_rate_of_a_finished_batch_is_measured_until_its_last_row():
    now = 1000.0 + RATE_WINDOW
    done = batch_progress(counts(counts={"delivered": 100}, created_at=now - 50, last_finished_at=now - 40),
                          since=now - RATE_WINDOW, now=now)
    assert done.rate == 30 / 10  # 30 rows in the 10 s it ran, not diluted by the idle time after


def test_newsletters_sum_the_batches_of_one_email_id():
    now = 2000.0
    parts = [counts(batch_id=1, email_id="e", counts={"delivered": 1000}, finished_since=500),
             counts(batch_id=2, email_id="e", counts={"queued": 600, "sending": 100, "delivered": 300},
                    in_doubt=4, finished_since=300, created_at=1500.0, last_finished_at=1990.0),
             counts(batch_id=3, email_id=None), counts(batch_id=4, email_id=None),
             counts(batch_id=5, email_id="e", domain="other")]
    letters = newsletters(parts, since=now - RATE_WINDOW, now=now)
    assert [(n.batch_id, n.batch_count, n.domain) for n in letters] == [
        (1, 2, "d"), (3, 1, "d"), (4, 1, "d"), (5, 1, "other")]
    first = letters[0]
    assert first.counts == {"delivered": 1300, "queued": 600, "sending": 100}
    assert (first.total, first.done, first.in_doubt, first.created_at) == (2000, 1300, 4, 1000.0)
    assert first.rate == 800 / RATE_WINDOW
    assert first.eta_seconds == 700 / first.rate


async def test_a_snapshot_cancelled_as_it_starts_leaves_no_coroutine_unawaited(gateway_factory):
    """A live page's stream closed (or its server stopping) just as a snapshot starts cancels its
    backend reads before they ran: none may be left created and never awaited."""
    gateway = gateway_factory()
    await gateway.start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        snapshot = asyncio.create_task(gateway.operations_snapshot())
        await asyncio.sleep(0)  # the snapshot's reads are scheduled, not yet started
        snapshot.cancel()
        with pytest.raises(asyncio.CancelledError):
            await snapshot
        await asyncio.sleep(0)
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    assert (await gateway.operations_snapshot()).queue_depth == 0
