"""Outcomes recorded as they arrive (group commits), dispatch marks, the in-doubt policy, and the
outbox's clean-up of half-written files."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from postgate import Delivery, DeliveryResult, Message, hookimpl
from postgate.backends import IN_FLIGHT
from postgate.builtin.outbox import Outbox, remove_orphans
from postgate.recorder import OutcomeRecorder
from postgate.domain import EventQuery, RecipientStatus
from postgate.worker import Worker

DOMAIN = "mg.example.com"


class Streaming(Delivery):
    """Answers one message at a time, like SES: dispatch mark, a short call, the answer."""

    concurrency = 2
    sends: list[str] = []
    stall_after: int | None = None  # stop answering (hang) after this many answers
    stalled: asyncio.Event
    slots: asyncio.Semaphore
    in_flight = 4
    call_seconds = 0.002

    async def send(self, messages):  # pragma: no cover - send_each is used
        raise AssertionError("send_each streams")

    async def send_each(self, messages, sink):
        async def one(message):
            async with Streaming.slots:  # like SES's send_threads: the calls in flight
                if message.recipient_id not in await sink.dispatching([message.recipient_id]):
                    return
                if Streaming.stall_after is not None and len(Streaming.sends) >= Streaming.stall_after:
                    Streaming.stalled.set()
                    await asyncio.sleep(3600)  # a call that never answers: the worker dies meanwhile
                Streaming.sends.append(message.recipient)
                await asyncio.sleep(Streaming.call_seconds)
                await sink.result(DeliveryResult(message.recipient_id, "sent", provider_id=f"p-{message.recipient_id}"))

        await asyncio.gather(*(one(message) for message in messages))

    async def settle(self, recipients):
        return {row.id: DeliveryResult(row.id, "unknown", message="nobody knows") for row in recipients}


class Resending(Streaming):
    """Streaming, but like the outbox: a row it cannot tell about may be sent again."""

    resend_in_doubt = True

    async def settle(self, recipients):
        return {}


class StreamingPlugin:
    @hookimpl
    def register_deliveries(self, register):
        register("streaming", Streaming)
        register("resending", Resending)


def batch(count: int) -> Message:
    return Message(domain=DOMAIN, sender=f"a@{DOMAIN}", to=[f"r{i}@example.com" for i in range(count)],
                   subject="s", text="t", recipient_variables={})


async def start(gateway_factory, delivery: str = "streaming", **gateway):
    Streaming.sends = []
    Streaming.stall_after = None
    Streaming.call_seconds = 0.002
    Streaming.stalled = asyncio.Event()
    Streaming.slots = asyncio.Semaphore(Streaming.in_flight)
    gw = gateway_factory(plugins=[StreamingPlugin()], backends={"delivery": delivery},
                         gateway={"lease_seconds": 0.5, "retry_delays": [0.1, 0.1], "chunk_size": 100, **gateway})
    await gw.start()
    return gw


async def drain(gw, timeout=20.0):
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(gw, "rescuer").run(stop))
    deadline = time.monotonic() + timeout
    try:
        while await gw.queue.depth():
            assert time.monotonic() < deadline, "the queue did not drain"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def answers_stored(gw, count: int, timeout: float = 30.0) -> None:
    """Wait until the answers that came back (``Streaming.sends``) are stored as sent: the last
    group commit may land a while after its answer on a loaded machine."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await gw.storage.list_recipients(1, 0, count)
        stored = sum(r.status is RecipientStatus.SENT for r in rows)
        if stored == len(Streaming.sends):
            return
        assert time.monotonic() < deadline, f"{stored} of {len(Streaming.sends)} answers stored"
        await asyncio.sleep(0.02)


async def failed_events(gw):
    return [e for e in await gw.storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=300))
            if e.event == "failed"]


async def test_each_answer_is_stored_before_the_chunk_ends_in_few_group_commits(gateway_factory):
    gw = await start(gateway_factory)
    await gw.accept(batch(60))
    Streaming.stall_after = 40
    calls = {"writes": 0}
    write = gw.storage.update_and_mark

    async def counted_write(*args):
        calls["writes"] += 1
        return await write(*args)

    gw.storage.update_and_mark = counted_write
    doomed = Worker(gw, "doomed")
    task = asyncio.create_task(doomed.run(asyncio.Event()))
    await asyncio.wait_for(Streaming.stalled.wait(), 30)
    await answers_stored(gw, 100)  # the chunk has not ended: it stalls on the 41st call
    task.cancel()  # the worker dies in the middle of its only chunk
    await asyncio.gather(task, return_exceptions=True)

    rows = await gw.storage.list_recipients(1, 0, 100)
    sent = [r for r in rows if r.status is RecipientStatus.SENT]
    assert len(sent) == 40, "answers were not stored as they arrived"
    in_flight = [r for r in rows if r.status is RecipientStatus.SENDING and r.error == IN_FLIGHT]
    assert 1 <= len(in_flight) <= Streaming.in_flight  # only the calls really in flight
    # Group commits: far fewer writes than rows (no round trip per recipient).
    assert doomed.recorder.rows >= 80 and calls["writes"] <= doomed.recorder.rows / 3, calls

    # The rows claimed but never handed over are sent normally; the in-flight ones are held
    # (gateway.in_doubt = hold): recorded as sent, no event, never sent again.
    await asyncio.sleep(0.6)
    Streaming.stall_after = None
    gw.storage.update_and_mark = write
    await drain(gw)
    rows = {r.address: r for r in await gw.storage.list_recipients(1, 0, 100)}
    assert all(r.status is RecipientStatus.SENT for r in rows.values())
    assert sorted(Streaming.sends) == sorted(a for a in rows if a not in {r.address for r in in_flight})
    held = [rows[r.address] for r in in_flight]
    assert all(r.provider_id is None and "held" in r.error for r in held)
    assert await failed_events(gw) == []


async def test_resend_policy_sends_the_in_doubt_row_again_without_a_failed_event(gateway_factory):
    gw = await start(gateway_factory, in_doubt="resend")
    await gw.accept(batch(5))
    Streaming.stall_after = 2
    task = asyncio.create_task(Worker(gw, "doomed").run(asyncio.Event()))
    await asyncio.wait_for(Streaming.stalled.wait(), 30)
    await answers_stored(gw, 10)  # the stalled calls are in flight
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    Streaming.stall_after = None
    await asyncio.sleep(0.6)
    await drain(gw)
    # The stalled calls never reached the "provider" here, so resending them made no duplicate;
    # with a real provider they might have (that is what "resend" accepts).
    assert sorted(Streaming.sends) == [f"r{i}@example.com" for i in range(5)]
    assert await failed_events(gw) == []


async def test_a_worker_that_lost_its_lease_does_not_send(gateway_factory):
    gw = await start(gateway_factory)
    await gw.accept(batch(3))
    rows = await gw.storage.claim_recipients(1, "old-owner", 0.01, 10, time.time())
    await asyncio.sleep(0.02)
    taken = await gw.storage.claim_recipients(1, "new-owner", 30, 10, time.time())
    assert [r.id for r in taken] == [r.id for r in rows]
    assert all(r.in_doubt and r.error is None for r in taken)  # never marked: sent as usual by the new owner
    worker = Worker(gw, "w")
    assert await worker.recorder.dispatched([r.id for r in rows], "old-owner") == []
    assert await worker.recorder.dispatched([rows[0].id], "new-owner") == [rows[0].id]


@pytest.mark.parametrize("delivery", ["streaming", "resending"])
async def test_a_job_back_at_the_same_worker_while_a_slow_pass_holds_it_sends_nothing_twice(gateway_factory,
                                                                                           delivery):
    """Also where the backend may resend what it cannot tell about (the outbox): the slow pass
    clears each send against its lease and sends nothing the other pass took over."""
    gw = await start(gateway_factory, delivery, lease_seconds=0.3, jobs_per_worker=3, chunk_size=40)
    Streaming.call_seconds = 0.05  # 40 rows, 4 at a time: a pass outlives the job's and rows' leases
    owners = []
    claim = gw.storage.claim_recipients

    async def recorded_claim(batch_id, owner, *args, **kwargs):
        owners.append(owner)
        return await claim(batch_id, owner, *args, **kwargs)

    gw.storage.claim_recipients = recorded_claim
    await gw.accept(batch(40))
    await drain(gw)
    assert sorted(Streaming.sends) == sorted(f"r{i}@example.com" for i in range(40))
    rows = await gw.storage.list_recipients(1, 0, 100)
    assert all(r.status is RecipientStatus.SENT for r in rows)
    # The job came back while the first pass still ran; each pass claimed under its own name, so
    # a dispatch mark of one never passes for the other's (the same worker, the same rows).
    assert len(set(owners)) >= 2 and len({o.rsplit("/", 1)[0] for o in owners}) == 1


def test_orphaned_temporary_files_are_removed_and_live_ones_kept(tmp_path):
    folder = tmp_path / "outbox" / DOMAIN
    folder.mkdir(parents=True)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        dead_tmp = folder / f".7.eml.{child.pid}.{'a' * 32}.tmp"
        live_tmp = folder / f".8.eml.{live.pid}.{'b' * 32}.tmp"
        old_style = folder / f".9.eml.{'c' * 32}.tmp"
        kept = folder / "10.eml"
        for path in (dead_tmp, live_tmp, old_style, kept):
            path.write_bytes(b"half")
        os.utime(old_style, (time.time() - 3600, time.time() - 3600))
        assert remove_orphans(tmp_path / "outbox") == 2
        assert sorted(p.name for p in folder.iterdir()) == sorted([live_tmp.name, kept.name])
    finally:
        live.kill()
        live.wait()


async def test_the_outbox_cleans_up_at_start(gateway_factory, caplog):
    gw = gateway_factory()
    folder = gw.settings.data_dir / "outbox" / DOMAIN
    folder.mkdir(parents=True)
    (folder / f".1.eml.{2**22 + 12345}.{'d' * 32}.tmp").write_bytes(b"half")
    await gw.start()
    assert isinstance(gw.delivery, Outbox)
    assert list(folder.iterdir()) == []
    assert any("half-written temporary file" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("policy", ["hold", "resend", "sometimes"])
def test_the_in_doubt_setting_is_validated(policy, tmp_path):
    from pydantic import ValidationError

    from postgate.settings import GatewaySettings

    if policy == "sometimes":
        with pytest.raises(ValidationError):
            GatewaySettings(in_doubt=policy)
    else:
        assert GatewaySettings(in_doubt=policy).in_doubt == policy
    assert GatewaySettings().in_doubt == "hold"


async def test_a_slow_pass_and_the_pass_that_took_its_rows_over_marked_in_one_group(gateway_factory):
    """Two passes ask to send the same rows in one group commit: the slow one, whose lease ran
    out, and the one that claimed the rows after it. Only the lease holder may send them; the
    group's answer must not clear the slow pass because the other one's marks went through."""
    gw = await start(gateway_factory)
    await gw.accept(batch(2))
    now = time.time()
    slow = await gw.storage.claim_recipients(1, "w/1", 0.5, 10, now)
    fast = await gw.storage.claim_recipients(1, "w/2", 0.5, 10, now + 1.0)  # the slow lease has run out
    ids = [row.id for row in slow]
    assert [row.id for row in fast] == ids and not any(row.error == IN_FLIGHT for row in fast)

    recorder = OutcomeRecorder(gw, 30.0)
    slow_cleared, fast_cleared = await asyncio.gather(recorder.dispatched(ids, "w/1"), recorder.dispatched(ids, "w/2"))
    assert recorder.groups == 1  # both in the same write, as under load
    assert fast_cleared == ids
    assert slow_cleared == []
    rows = await gw.storage.get_recipients(ids)
    assert all(row.lease_owner == "w/2" and row.error == IN_FLIGHT for row in rows)
