"""The delivery pipeline end to end through a real gateway: sqlite storage, local queue, outbox."""

from __future__ import annotations

import asyncio
import collections
import time
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from postgate.app import Gateway
from postgate.builtin.outbox import Outbox
from postgate.domain import EventQuery, Message, RecipientStatus
from postgate.hookspecs import hookimpl
from postgate.testing.fixtures import make_settings
from postgate.worker import Worker

DOMAIN = "mg.example.com"
SIM = "simulator.amazonses.com"
TAGS = ["ghost-email", "bulk-email"]
FAST = {"lease_seconds": 1.0, "retry_delays": [0.2, 0.4, 0.8]}


def ghost_batch(addresses: list[str], email_id: str = "6740a1b2c3d4e5f6a7b8c9d0", **kw) -> Message:
    """A newsletter batch shaped like Ghost 6.65's (contract §2.2)."""
    rv = {
        address: {
            "name": f"Member {i}",
            "unsubscribe_url": f"https://blog.example.com/unsubscribe/?uuid={i}",
            "list_unsubscribe": f"https://blog.example.com/unsubscribe/?uuid={i}&key=k",
            "message_id": f"{email_id}.{i:032x}@{DOMAIN}",
        }
        for i, address in enumerate(addresses)
    }
    fields = dict(
        domain=DOMAIN, sender="My Blog <noreply@mg.example.com>", to=list(addresses),
        subject="Hello %recipient.name%",
        html='<p>Hi %recipient.name%</p><a href="%recipient.unsubscribe_url%">unsub</a>',
        text="Hi %recipient.name%", recipient_variables=rv,
        headers=[("Sender", "My Blog <noreply@mg.example.com>"),
                 ("List-Unsubscribe", "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>"),
                 ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                 ("Message-Id", "<%recipient.message_id%>")],
        variables={"email-id": email_id}, tags=list(TAGS), tracking_opens=True,
    )
    fields.update(kw)
    return Message(**fields)


class Recording(Outbox):
    """The outbox, counting sends per recipient and optionally hanging after writing a chunk."""

    sends: collections.Counter
    resent_existing: list[int]
    hang_after_calls: int | None = None

    def __init__(self, gateway) -> None:
        super().__init__(gateway)
        self.sends = collections.Counter()
        self.resent_existing = []
        self.calls = 0
        self.hung = asyncio.Event()

    def _send_all(self, messages):
        # Counted where the files are written: a send the killed worker never started is not a send.
        for m in messages:
            self.sends[m.recipient_id] += 1
            if self.path(m.domain, m.recipient_id).exists():
                self.resent_existing.append(m.recipient_id)
        return super()._send_all(messages)

    async def send(self, messages):
        results = await super().send(messages)
        self.calls += 1
        if self.hang_after_calls is not None and self.calls >= self.hang_after_calls:
            self.hung.set()
            await asyncio.Event().wait()  # written, but the worker "dies" before recording it
        return results


class RecordingPlugin:
    @hookimpl
    def register_deliveries(self, register):
        register("recording", Recording)


def make_gateway(gateway_factory, **gateway_settings):
    return gateway_factory(plugins=[RecordingPlugin()], backends={"delivery": "recording"},
                           gateway={**FAST, **gateway_settings})


def sharing_gateway(data_dir: Path, shared: Path, **gateway_settings) -> Gateway:
    """A gateway whose database and outbox live in ``shared``, like another process's would."""
    settings = make_settings(
        data_dir, backends={"delivery": "recording"}, gateway={**FAST, **gateway_settings},
        plugins={"sqlite": {"path": str(shared / "db.sqlite3")}, "outbox": {"folder": str(shared / "outbox")}},
    )
    return Gateway(settings, plugins=[RecordingPlugin()], load_entrypoints=False)


async def drain(*gateways, workers_per_gateway: int = 1, timeout: float = 30.0) -> None:
    """Run workers until every queue job is acknowledged."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(Worker(gw, f"w{g}-{i}").run(stop))
             for g, gw in enumerate(gateways) for i in range(workers_per_gateway)]
    deadline = time.monotonic() + timeout
    try:
        while await gateways[0].queue.depth():
            assert time.monotonic() < deadline, "the queue did not drain"
            for task in tasks:
                if task.done():
                    task.result()
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def events_of(gw, kind: str | None = None) -> list:
    out, after = [], None
    while True:
        page = await gw.storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=300, after=after))
        if not page:
            return [e for e in out if kind is None or e.event == kind]
        out.extend(page)
        after = (page[-1].recorded_at, page[-1].id)


async def ledger(gw, batch_id: int) -> list:
    return await gw.storage.list_recipients(batch_id, 0, 10_000)


def eml_files(gw) -> list[Path]:
    return sorted((gw.delivery.folder / DOMAIN).glob("*.eml"))


def batch_of(event) -> int:
    return int(event.payload["storage"]["key"].split("-")[0])


async def test_ghost_batch_of_1000_goes_out_once_each_with_its_own_substitutions(gateway_factory):
    gw = make_gateway(gateway_factory)
    await gw.start()
    addresses = [f"member{i}@example.com" for i in range(1000)]
    response = await gw.accept(ghost_batch(addresses))
    assert response == "<%recipient.message_id%>"
    started = time.perf_counter()
    await drain(gw)
    elapsed = time.perf_counter() - started
    print(f"1000 recipients in {elapsed:.2f} s: {1000 / elapsed:.0f} recipients/s")

    assert len(gw.delivery.sends) == 1000 and set(gw.delivery.sends.values()) == {1}
    files = eml_files(gw)
    assert len(files) == 1000
    by_to = {}
    for path in files:
        mail = message_from_bytes(await asyncio.to_thread(path.read_bytes), policy=default)
        by_to[mail["To"]] = mail
    assert set(by_to) == set(addresses)
    for i in (0, 1, 500, 999):
        mail = by_to[f"member{i}@example.com"]
        assert mail["Subject"] == f"Hello Member {i}"
        assert mail["Message-ID"] == f"<6740a1b2c3d4e5f6a7b8c9d0.{i:032x}@{DOMAIN}>"
        assert mail["List-Unsubscribe"] == f"<https://blog.example.com/unsubscribe/?uuid={i}&key=k>"
        assert f"?uuid={i}\"" in mail.get_body(("html",)).get_content()

    accepted = await events_of(gw, "accepted")
    delivered = await events_of(gw, "delivered")
    assert len(accepted) == len(delivered) == 1000
    assert {e.recipient for e in delivered} == set(addresses)
    sample = next(e for e in delivered if e.recipient == "member7@example.com")
    body = sample.to_mailgun()
    assert body["message"]["headers"]["message-id"] == f"6740a1b2c3d4e5f6a7b8c9d0.{7:032x}@{DOMAIN}"
    assert body["user-variables"] == {"email-id": "6740a1b2c3d4e5f6a7b8c9d0"}
    assert body["tags"] == TAGS and body["delivery-status"]["code"] == 250
    assert isinstance(body["timestamp"], float)
    # Whole seconds, ordered by id within a second: every accepted event before every delivery.
    assert all(e.recorded_at % 1_000_000 == 0 for e in accepted + delivered)
    assert max((e.recorded_at, e.id) for e in accepted) < min((e.recorded_at, e.id) for e in delivered)


async def test_simulator_outcomes_and_their_events(gateway_factory):
    gw = make_gateway(gateway_factory)
    await gw.start()
    kinds = ["success", "bounce", "complaint", "suppressionlist", "tempfail", "ooto", "success+label"]
    addresses = [f"{kind}@{SIM}" for kind in kinds] + ["someone@example.com"]
    await gw.accept(ghost_batch(addresses))
    await drain(gw)

    events = await events_of(gw)
    by = collections.defaultdict(list)
    for event in events:
        if event.event != "accepted":
            by[event.recipient].append(event)
    kinds_of = {address: [(e.event, e.severity) for e in by[address]] for address in addresses}
    assert kinds_of[f"success@{SIM}"] == [("delivered", None)]
    assert kinds_of[f"success+label@{SIM}"] == [("delivered", None)]
    assert kinds_of[f"ooto@{SIM}"] == [("delivered", None)]
    assert kinds_of["someone@example.com"] == [("delivered", None)]
    assert kinds_of[f"bounce@{SIM}"] == [("failed", "permanent")]
    assert kinds_of[f"complaint@{SIM}"] == [("delivered", None), ("complained", None)]
    assert kinds_of[f"suppressionlist@{SIM}"] == [("failed", "permanent")]
    assert kinds_of[f"tempfail@{SIM}"] == [("failed", "temporary"), ("delivered", None)]

    bounce = by[f"bounce@{SIM}"][0].payload
    assert bounce["reason"] == "bounce" and bounce["log-level"] == "error"
    assert bounce["delivery-status"]["code"] == 550 and bounce["delivery-status"]["enhanced-code"] == "5.1.1"
    listed = by[f"suppressionlist@{SIM}"][0].payload
    assert listed["reason"] == "suppress-bounce" and listed["delivery-status"]["code"] == 605
    temp, later = by[f"tempfail@{SIM}"]
    assert temp.payload["delivery-status"]["code"] == 451
    assert temp.payload["delivery-status"]["retry-seconds"] == 0  # int(0.2)
    assert temp.payload["log-level"] == "warn"
    assert later.payload["delivery-status"]["attempt-no"] == 2
    assert (later.recorded_at, later.id) > (temp.recorded_at, temp.id)  # backoff: see the test below

    rows = {r.address: r for r in await ledger(gw, batch_of(by[f"bounce@{SIM}"][0]))}
    assert rows[f"bounce@{SIM}"].status is RecipientStatus.FAILED
    assert rows[f"tempfail@{SIM}"].status is RecipientStatus.DELIVERED and rows[f"tempfail@{SIM}"].attempts == 2
    # The suppression listener listed the hard bounce and the complaint.
    assert await gw.storage.get_suppression(DOMAIN, "bounces", f"bounce@{SIM}")
    assert await gw.storage.get_suppression(DOMAIN, "complaints", f"complaint@{SIM}")


async def test_second_send_after_bounce_and_complaint_is_dropped_with_605_and_607(gateway_factory):
    gw = make_gateway(gateway_factory)
    await gw.start()
    first = [f"bounce@{SIM}", f"complaint@{SIM}", "fine@example.com"]
    await gw.accept(ghost_batch(first, email_id="aaaaaaaaaaaaaaaaaaaaaaa1"))
    await drain(gw)
    sends_before = sum(gw.delivery.sends.values())
    await gw.accept(ghost_batch(first, email_id="aaaaaaaaaaaaaaaaaaaaaaa2"))
    await drain(gw)
    assert sum(gw.delivery.sends.values()) - sends_before == 1  # only fine@example.com

    second = [e for e in await events_of(gw)
              if e.email_id == "aaaaaaaaaaaaaaaaaaaaaaa2" and e.event == "failed"]
    codes = {e.recipient: e.payload["delivery-status"]["code"] for e in second}
    assert codes == {f"bounce@{SIM}": 605, f"complaint@{SIM}": 607}
    for event in second:
        assert event.severity == "permanent"
        assert event.payload["reason"] in ("suppress-bounce", "suppress-complaint")
        assert event.payload["delivery-status"]["description"].startswith("Not delivering")
        assert event.payload["user-variables"]["email-id"] == "aaaaaaaaaaaaaaaaaaaaaaa2"


async def test_deliverytime_is_honoured(gateway_factory):
    gw = make_gateway(gateway_factory)
    await gw.start()
    at = time.time() + 2.5
    await gw.accept(ghost_batch(["later@example.com"], deliver_at=at))
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(gw, "w").run(stop))
    try:
        await asyncio.sleep(1.0)
        early = eml_files(gw) or await events_of(gw, "delivered")
        # Looked before the delivery time (a loaded machine may only get here after it)?
        assert not (early and time.time() < at), "delivered before its delivery time"
        deadline = time.monotonic() + 10
        while not await events_of(gw, "delivered"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
    delivered = (await events_of(gw, "delivered"))[0]
    assert delivered.recorded_at // 1_000_000 >= int(at)  # stamped with the second it happened in
    assert len(eml_files(gw)) == 1


async def test_testmode_sends_nothing_and_reports_650(gateway_factory):
    gw = make_gateway(gateway_factory)
    await gw.start()
    await gw.accept(ghost_batch(["a@example.com", f"bounce@{SIM}"], testmode=True))
    await drain(gw)
    assert not gw.delivery.sends and not eml_files(gw)
    delivered = await events_of(gw, "delivered")
    assert len(delivered) == 2
    for event in delivered:
        assert event.payload["delivery-status"]["code"] == 650
        assert event.payload["flags"]["is-test-mode"] is True


async def test_temporary_failures_retry_with_backoff_then_fail_as_old(gateway_factory):
    gw = make_gateway(gateway_factory, retry_delays=[0.1, 0.2])

    attempts_at = []

    async def always_temporary(messages):
        from postgate.domain import DeliveryResult

        attempts_at.append(time.monotonic())
        for m in messages:
            gw.delivery.sends[m.recipient_id] += 1
        return [DeliveryResult(m.recipient_id, "failed", permanent=False, code=421, enhanced_code="4.4.2",
                               message="4.4.2 try later") for m in messages]

    await gw.start()
    gw.delivery.send = always_temporary
    await gw.accept(ghost_batch(["slow@example.com"]))
    await drain(gw)
    failed = await events_of(gw, "failed")
    assert [(e.severity, e.payload["reason"]) for e in failed] == [
        ("temporary", "generic"), ("temporary", "generic"), ("permanent", "old")]
    assert [e.payload["delivery-status"]["attempt-no"] for e in failed] == [1, 2, 3]
    assert failed[-1].payload["delivery-status"]["code"] == 421
    assert len(attempts_at) == 3  # event stamps are whole seconds: time the attempts themselves
    assert attempts_at[1] - attempts_at[0] >= 0.1 and attempts_at[2] - attempts_at[1] >= 0.2
    assert sum(gw.delivery.sends.values()) == 3


async def test_reaccepting_the_same_batch_sends_nothing_twice(gateway_factory):
    gw = make_gateway(gateway_factory)
    await gw.start()
    message = ghost_batch([f"r{i}@example.com" for i in range(20)])
    first = await gw.accept(message)
    await drain(gw)
    again = await gw.accept(ghost_batch([f"r{i}@example.com" for i in range(20)]))
    await drain(gw)
    assert first == again
    assert len(gw.delivery.sends) == 20 and set(gw.delivery.sends.values()) == {1}
    assert len(await events_of(gw, "accepted")) == 20
    assert len(await events_of(gw, "delivered")) == 20


async def test_a_killed_worker_is_finished_by_another_with_every_recipient_once(gateway_factory):
    gw = make_gateway(gateway_factory, chunk_size=25)
    await gw.start()
    addresses = [f"k{i}@example.com" for i in range(200)]
    await gw.accept(ghost_batch(addresses))
    gw.delivery.hang_after_calls = 3  # the third send call writes its files, then the worker dies
    stop = asyncio.Event()
    doomed = asyncio.create_task(Worker(gw, "doomed").run(stop))
    await asyncio.wait_for(gw.delivery.hung.wait(), 10)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    in_flight = [r for r in await ledger(gw, 1) if r.status is RecipientStatus.SENDING]
    assert in_flight, "the killed worker left rows in doubt"

    gw.delivery.hang_after_calls = None
    await drain(gw, timeout=20)

    assert gw.delivery.resent_existing == []  # in-doubt rows with a written .eml were settled, not resent
    assert set(gw.delivery.sends.values()) == {1} and len(gw.delivery.sends) == 200
    assert len(eml_files(gw)) == 200
    delivered = await events_of(gw, "delivered")
    assert sorted(e.recipient for e in delivered) == sorted(addresses)
    assert all(r.status is RecipientStatus.DELIVERED for r in await ledger(gw, 1))


async def test_two_gateways_share_one_queue_and_each_recipient_goes_out_once(tmp_path):
    shared = tmp_path / "shared"
    one = sharing_gateway(tmp_path / "one", shared, chunk_size=20, jobs_per_worker=1)
    two = sharing_gateway(tmp_path / "two", shared, chunk_size=20, jobs_per_worker=1)
    try:
        await one.start()
        await two.start()
        two.delivery.sends = one.delivery.sends  # count sends across both "processes"
        two.delivery.resent_existing = one.delivery.resent_existing
        everyone = []
        for n in range(4):
            batch = [f"b{n}-{i}@example.com" for i in range(150)]
            everyone += batch
            await (one if n % 2 else two).accept(ghost_batch(batch, email_id=f"{n:024x}"))
        await drain(one, two)
        assert one.delivery.calls and two.delivery.calls, "both workers took part"
        assert len(one.delivery.sends) == 600 and set(one.delivery.sends.values()) == {1}
        assert one.delivery.resent_existing == []
        delivered = await events_of(one, "delivered")
        assert sorted(e.recipient for e in delivered) == sorted(everyone)
        assert len(list((shared / "outbox" / DOMAIN).glob("*.eml"))) == 600
    finally:
        await two.stop()
        await one.stop()


async def test_housekeeping_requeues_a_batch_whose_job_was_lost_and_purges_old_data(gateway_factory):
    from postgate.batching import build_batch
    from postgate.housekeeping import purge_expired, requeue_unenqueued

    gw = make_gateway(gateway_factory)
    await gw.start()
    # A crash between the storage commit and queue.put: stored, never enqueued.
    created = await gw.storage.create_batch(*build_batch(ghost_batch(["lost@example.com"]), now=time.time() - 60))
    assert not created.batch.enqueued and await gw.queue.depth() == 0
    assert await requeue_unenqueued(gw) == 1
    assert await requeue_unenqueued(gw) == 0
    await drain(gw)
    assert [e.recipient for e in await events_of(gw, "delivered")] == ["lost@example.com"]
    assert await purge_expired(gw) == 0  # nothing is older than retention_days yet
    assert len(await events_of(gw)) == 2
