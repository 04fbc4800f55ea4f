"""The SES delivery backend through a real gateway and worker, against moto (and the fault proxy)."""

from __future__ import annotations

import asyncio
import collections
import pathlib
import sys

import pytest

from postgate import Attachment, Message, RecipientStatus

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from fault_proxy import Fault, FaultProxy  # noqa: E402
from ses_helpers import (  # noqa: E402
    DOMAIN,
    drain,
    events_of,
    ledger,
    running,
    sent_mail,
    ses_gateway,
    setup_ses,
    simple_batch,
    wait_for,
)

EMAIL_ID = "6740a1b2c3d4e5f6a7b8c9d0"


def ghost_batch(addresses: list[str]) -> Message:
    """A newsletter batch shaped like Ghost's, with a Reply-To, a Sender and an attachment."""
    rv = {
        address: {
            "name": f"Member {i}",
            "uuid": f"uuid-{i}",
            "list_unsubscribe": f"https://blog.example.com/unsubscribe/?uuid=uuid-{i}&key=k{i}",
            "message_id": f"{EMAIL_ID}.{i:032x}@{DOMAIN}",
        }
        for i, address in enumerate(addresses)
    }
    return Message(
        domain=DOMAIN, sender="My Blog <noreply@mg.example.com>", to=list(addresses),
        subject="Hello %recipient.name%",
        html='<p>Hi %recipient.name%</p><a href="https://blog.example.com/unsubscribe/?uuid=%recipient.uuid%">unsub</a>',
        text="Hi %recipient.name%", recipient_variables=rv,
        headers=[("Reply-To", "editor@blog.example.com"),
                 ("Sender", "My Blog <noreply@mg.example.com>"),
                 ("List-Unsubscribe", "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>"),
                 ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                 ("Message-Id", "<%recipient.message_id%>")],
        variables={"email-id": EMAIL_ID}, tags=["ghost-email"], tracking_opens=True,
        attachments=[Attachment("notes.txt", "text/plain", b"attached notes\n")],
    )


async def test_ghost_batch_of_1000_goes_out_once_each_with_its_own_headers(aws, gateway_factory):
    setup_ses(aws)
    gw = ses_gateway(gateway_factory, aws.url)
    await gw.start()
    addresses = [f"member{i}@example.com" for i in range(1000)]
    await gw.accept(ghost_batch(addresses))
    await drain(gw, timeout=300)  # 1000 calls to moto: 86 s alone on a machine with a load of 16

    mails = sent_mail(aws)
    assert len(mails) == 1000
    by_to = {}
    for moto_id, mail, entry in mails:
        assert entry["source"] == "noreply@mg.example.com"
        assert mail["To"] not in by_to
        by_to[mail["To"]] = (moto_id, mail)
    assert set(by_to) == set(addresses)
    batch = await gw.storage.get_batch(1)
    for i in (0, 1, 517, 999):
        _, mail = by_to[f"member{i}@example.com"]
        assert mail["Subject"] == f"Hello Member {i}"
        assert mail["List-Unsubscribe"].strip() == f"<https://blog.example.com/unsubscribe/?uuid=uuid-{i}&key=k{i}>"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mail["Reply-To"] == "editor@blog.example.com"
        assert mail["Sender"] == "My Blog <noreply@mg.example.com>"
        assert mail["X-Postgate-Id"] == batch.message_id
        assert mail["Message-ID"] == f"<{EMAIL_ID}.{i:032x}@{DOMAIN}>"  # SES replaces it; moto keeps it
        assert f"uuid=uuid-{i}\"" in mail.get_body(("html",)).get_content()
        attachment = next(mail.iter_attachments())
        assert attachment.get_filename() == "notes.txt" and attachment.get_content() == "attached notes\n"

    rows = await ledger(gw)
    assert len(rows) == 1000
    assert {row.status for row in rows} == {RecipientStatus.SENT}
    assert {row.address: row.provider_id for row in rows} == {to: moto_id for to, (moto_id, _) in by_to.items()}
    assert {row.message_id for row in rows} == {f"{EMAIL_ID}.{i:032x}@{DOMAIN}" for i in range(1000)}
    assert not await events_of(gw, "failed")


async def test_call_shape_tags_configuration_set_and_tracking(aws, gateway_factory):
    setup_ses(aws)
    with FaultProxy(aws.url) as proxy:
        gw = ses_gateway(gateway_factory, proxy.url)
        await gw.start()
        await gw.accept(simple_batch(["a@example.com"], tracking_opens=True, tracking_clicks=False))
        await gw.accept(simple_batch(["b@xn--bcher-kva.example"], tracking_opens=False, tracking_clicks="htmlonly"))
        await drain(gw)
        calls = {s.request.destinations()[0]: s.request.json() for s in proxy.seen("SendEmail")}
    assert set(calls) == {"a@example.com", "b@xn--bcher-kva.example"}
    rows = {row.address: row for batch in (1, 2) for row in await ledger(gw, batch)}
    first = calls["a@example.com"]
    assert first["FromEmailAddress"] == "noreply@mg.example.com"
    assert first["ConfigurationSetName"] == "postgate"
    assert first["EmailTags"] == [{"Name": "pg_batch", "Value": "1"},
                                  {"Name": "pg_rcpt", "Value": str(rows["a@example.com"].id)},
                                  {"Name": "pg_domain", "Value": "mg_example_com"}]
    assert first["ConfigurationOverrides"] == {"Tracking": {"OpenTrackingEnabled": "ENABLED",
                                                            "ClickTrackingEnabled": "DISABLED"}}
    assert calls["b@xn--bcher-kva.example"]["ConfigurationOverrides"]["Tracking"] == {
        "OpenTrackingEnabled": "DISABLED", "ClickTrackingEnabled": "ENABLED"}
    assert {row.status for row in rows.values()} == {RecipientStatus.SENT}


async def test_throttled_recipients_are_retried_later_and_sent_once(aws, gateway_factory):
    setup_ses(aws)
    addresses = [f"t{i}@example.com" for i in range(6)]
    with FaultProxy(aws.url) as proxy:
        rule = proxy.inject(Fault.throttle(), action="SendEmail", nth={2, 4})
        gw = ses_gateway(gateway_factory, proxy.url, max_send_rate=50)
        await gw.start()
        await gw.accept(simple_batch(addresses))
        await drain(gw)
        assert proxy.count("SendEmail") == 8
    throttled = {r.destinations()[0] for r in rule.hits}
    assert len(throttled) == 2
    sends = collections.Counter(mail["To"] for _, mail, _ in sent_mail(aws))
    assert sends == {address: 1 for address in addresses}
    assert {row.status for row in await ledger(gw)} == {RecipientStatus.SENT}
    failed = await events_of(gw, "failed")
    assert {e.recipient for e in failed} == throttled
    assert {e.severity for e in failed} == {"temporary"}
    assert {e.payload["delivery-status"]["code"] for e in failed} == {421}
    assert gw.delivery.aimd.cuts >= 1
    assert gw.delivery.max_rate < 50


async def test_a_5xx_is_in_doubt_then_settled_as_not_accepted_and_sent_once(aws, gateway_factory):
    setup_ses(aws)
    with FaultProxy(aws.url) as proxy:
        proxy.inject(Fault.server_error(), action="SendEmail", nth=1)
        # The SES event source is configured (with no queue to read): no Send event within the
        # grace means SES never took the message.
        gw = ses_gateway(gateway_factory, proxy.url, in_doubt_grace_seconds=0.5,
                         backends={"delivery": "ses", "event_sources": ["ses"]})
        await gw.start()
        await gw.accept(simple_batch(["x@example.com"]))
        await drain(gw)
        outcomes = [s.outcome for s in proxy.seen("SendEmail")]
    assert outcomes == ["http_500", "forwarded"]
    assert [mail["To"] for _, mail, _ in sent_mail(aws)] == ["x@example.com"]
    (row,) = await ledger(gw)
    assert row.status is RecipientStatus.SENT and row.provider_id == aws.raw_messages()[0]["id"]
    assert not await events_of(gw, "failed")  # no false failure on the way


@pytest.mark.parametrize("policy", ["hold", "resend"])
async def test_without_an_event_source_a_lost_answer_follows_the_in_doubt_setting(aws, gateway_factory, policy,
                                                                                  caplog):
    setup_ses(aws)
    with FaultProxy(aws.url) as proxy:
        proxy.inject(Fault.server_error(500, forward=True), action="SendEmail", nth=1)  # SES took it
        gw = ses_gateway(gateway_factory, proxy.url, in_doubt_grace_seconds=0.5, gateway={"in_doubt": policy})
        await gw.start()
        await gw.accept(simple_batch(["x@example.com"]))
        await drain(gw)
        outcomes = [s.outcome for s in proxy.seen("SendEmail")]
    (row,) = await ledger(gw)
    assert row.status is RecipientStatus.SENT
    assert not await events_of(gw, "failed")
    if policy == "hold":  # the default: never twice, no event either way
        assert outcomes == ["http_500"] and len(aws.raw_messages()) == 1
        assert row.provider_id is None and "held" in row.error
        assert any("gateway.in_doubt = hold" in r.getMessage() for r in caplog.records)
    else:
        assert outcomes == ["http_500", "forwarded"] and len(aws.raw_messages()) == 2
        assert any("gateway.in_doubt = resend" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("fault", [Fault.drop_after_forward(), Fault.slow(6.0)], ids=["dropped", "read-timeout"])
async def test_sent_but_unanswered_is_settled_from_the_event_and_never_sent_twice(aws, gateway_factory, fault):
    setup_ses(aws)
    with FaultProxy(aws.url) as proxy:
        proxy.inject(fault, action="SendEmail", nth=1)
        # A read timeout of 2 s: the other recipient's call, answered at once, must not run into it
        # on a loaded machine (it would be in doubt too).
        gw = ses_gateway(gateway_factory, proxy.url, send_timeout=2.0, in_doubt_grace_seconds=60)
        await gw.start()
        await gw.accept(simple_batch(["y@example.com", "z@example.com"]))
        async with running(gw):
            await wait_for(lambda: len(aws.raw_messages()) == 2)
            await asyncio.sleep(2.5)  # past the read timeout: the unanswered row is in doubt meanwhile
            rows = {row.address: row for row in await ledger(gw)}
            doubtful = [row for row in rows.values() if row.status is RecipientStatus.SENDING]
            assert len(doubtful) == 1
            # What the SES event source does when the Send event tagged pg_rcpt=<id> arrives.
            moto_id = next(m_id for m_id, mail, _ in sent_mail(aws) if mail["To"] == doubtful[0].address)
            assert await gw.storage.record_provider_ids([(doubtful[0].id, moto_id)]) == 1
            await wait_for(lambda: _all_sent(gw))
        assert proxy.count("SendEmail") == 2
    rows = {row.address: row for row in await ledger(gw)}
    assert rows[doubtful[0].address].provider_id == moto_id
    assert {row.status for row in rows.values()} == {RecipientStatus.SENT}
    assert len(aws.raw_messages()) == 2
    assert not await events_of(gw, "failed")


async def _all_sent(gw) -> bool:
    return {row.status for row in await ledger(gw)} == {RecipientStatus.SENT}


async def test_sending_paused_stops_sending_reports_not_ready_then_resumes(aws, gateway_factory):
    from postgate.web import create_app

    setup_ses(aws)
    addresses = [f"p{i}@example.com" for i in range(3)]
    with FaultProxy(aws.url) as proxy:
        rule = proxy.inject(Fault.sending_paused(), action="SendEmail")
        # The pause outlasts the 0.8 s look below by seconds, however slowly a loaded machine
        # gets there; the retries outlast the pause.
        gw = ses_gateway(gateway_factory, proxy.url, paused_retry_seconds=4.0,
                         gateway={"retry_delays": [0.2] * 60})
        await gw.start()
        client = create_app(gw, background=False).test_client()
        assert (await client.get("/health/ready")).status_code == 200
        await gw.accept(simple_batch(addresses))
        async with running(gw):
            await wait_for(lambda: gw.delivery.pause is not None)
            response = await client.get("/health/ready")
            assert response.status_code == 503
            assert "SendingPausedException" in (await response.get_json())["checks"]["delivery"]
            calls_when_paused = proxy.count("SendEmail")
            await asyncio.sleep(0.8)  # rows are retried meanwhile, without calling SES
            assert proxy.count("SendEmail") == calls_when_paused <= 3
            proxy.clear()
            await wait_for(lambda: _all_sent(gw), timeout=20)
        assert (await client.get("/health/ready")).status_code == 200
    assert len(rule.hits) == calls_when_paused
    assert collections.Counter(m["To"] for _, m, _ in sent_mail(aws)) == {a: 1 for a in addresses}
    assert gw.delivery.pause is None


async def test_account_suspended_and_daily_quota_pause_sending(aws, gateway_factory):
    setup_ses(aws)

    async def retrying(batch_id: int) -> bool:
        return [row.status for row in await ledger(gw, batch_id)] == [RecipientStatus.RETRY]

    with FaultProxy(aws.url) as proxy:
        proxy.inject(Fault.account_suspended(), action="SendEmail", nth=1)
        proxy.inject(Fault.daily_quota(), action="SendEmail", nth=2)
        gw = ses_gateway(gateway_factory, proxy.url, gateway={"retry_delays": [30]})
        await gw.start()
        async with running(gw):
            await gw.accept(simple_batch(["s@example.com"]))
            await wait_for(lambda: retrying(1))
            assert gw.delivery.pause.kind == "suspended"
            gw.delivery.pause.until = 0  # time passes
            await gw.accept(simple_batch(["q@example.com"]))
            await wait_for(lambda: retrying(2))
            assert gw.delivery.pause.kind == "daily-quota"
            with pytest.raises(RuntimeError, match="daily-quota"):
                await gw.delivery.check()
            before = proxy.count("SendEmail")
            await gw.accept(simple_batch(["later@example.com"]))
            await wait_for(lambda: retrying(3))
            assert proxy.count("SendEmail") == before == 2  # held without a call while the quota is spent
    failed = await events_of(gw, "failed")
    assert [(e.recipient, e.severity) for e in failed] == [
        ("s@example.com", "temporary"), ("q@example.com", "temporary"), ("later@example.com", "temporary")]
    assert [e.payload["delivery-status"]["code"] for e in failed] == [451, 421, 421]


async def test_message_rejected_is_a_permanent_failure(aws, gateway_factory):
    setup_ses(aws, identity=False)  # moto: MessageRejected "Did not have authority to send from …"
    gw = ses_gateway(gateway_factory, aws.url)
    await gw.start()
    await gw.accept(simple_batch(["r@example.com"]))
    await drain(gw)
    (row,) = await ledger(gw)
    assert row.status is RecipientStatus.FAILED
    (failed,) = await events_of(gw, "failed")
    assert failed.severity == "permanent"
    status = failed.payload["delivery-status"]
    assert (status["code"], status["enhanced-code"]) == (550, "5.7.1")
    assert "MessageRejected" in status["message"]
    assert gw.delivery.pause is None
    assert not aws.raw_messages()


async def test_header_rule_violations_fail_permanently_without_a_call(aws, gateway_factory):
    setup_ses(aws)
    with FaultProxy(aws.url) as proxy:
        gw = ses_gateway(gateway_factory, proxy.url)
        await gw.start()
        await gw.accept(simple_batch(["dup@example.com"], headers=[
            ("List-Unsubscribe", "<https://a.example/u>"), ("List-Unsubscribe", "<https://b.example/u>")]))
        await gw.accept(simple_batch(["ok@example.com"]))
        await drain(gw)
        assert [s.request.destinations() for s in proxy.seen("SendEmail")] == [["ok@example.com"]]
    failed = await events_of(gw, "failed")
    assert [(e.recipient, e.severity) for e in failed] == [("dup@example.com", "permanent")]
    assert "'list-unsubscribe' appears 2 times" in failed[0].payload["delivery-status"]["message"]


async def test_rate_from_the_quota_when_not_configured(aws, gateway_factory):
    setup_ses(aws)
    gw = ses_gateway(gateway_factory, aws.url, max_send_rate=None)
    await gw.start()
    # moto has no GetAccount (HTTP 404): the v1 GetSendQuota fallback says MaxSendRate = 1.
    assert gw.delivery.quota_reading.source == "GetSendQuota"
    assert gw.delivery.max_rate == pytest.approx(0.9)
    await gw.delivery.check()


async def test_the_snapshot_quota_is_the_last_reading_without_a_call_each_time(aws, gateway_factory):
    setup_ses(aws)
    expected = aws.client("ses").get_send_quota()
    with FaultProxy(aws.url) as proxy:
        gw = ses_gateway(gateway_factory, proxy.url)
        await gw.start()
        reads = proxy.count("GetSendQuota")
        assert reads >= 1
        first = await gw.operations_snapshot()
        second = await gw.operations_snapshot()
        assert proxy.count("GetSendQuota") == reads  # answered from the cached reading
        assert first.quota == second.quota
        quota = first.quota
        assert quota.source == "GetSendQuota"
        assert (quota.max_24h, quota.sent_24h, quota.max_rate) == (
            float(expected["Max24HourSend"]), float(expected["SentLast24Hours"]), float(expected["MaxSendRate"]))
        assert quota.left_24h == quota.max_24h - quota.sent_24h
        gw.delivery._quota_read_at -= 10 * gw.delivery.settings.quota_refresh_seconds  # time passes
        await gw.operations_snapshot()
        assert proxy.count("GetSendQuota") == reads + 1  # a stale reading is read again


async def test_the_token_bucket_is_shared_by_two_gateways_on_one_database(aws, gateway_factory, tmp_path):
    setup_ses(aws)
    shared = {"sqlite": {"path": str(tmp_path / "shared.sqlite3")}}
    settings = {"jobs_per_worker": 1, "job_size": 25, "chunk_size": 25}
    with FaultProxy(aws.url) as one, FaultProxy(aws.url) as two:
        gateways = [ses_gateway(gateway_factory, proxy.url, max_send_rate=20, gateway=settings,
                                plugin_settings=shared) for proxy in (one, two)]
        for gw in gateways:
            await gw.start()
        await gateways[0].accept(simple_batch([f"b{i}@example.com" for i in range(100)]))
        await drain(*gateways, timeout=60)
        times = sorted(s.at for proxy in (one, two) for s in proxy.seen("SendEmail"))
        assert one.count("SendEmail") and two.count("SendEmail")  # both gateways sent
    assert len(times) == 100 and len(aws.raw_messages()) == 100
    # 20 per second from the first second on, across both gateways: at least 4 s for 100.
    assert times[-1] - times[0] >= 4.0

    def busiest(window: float) -> int:
        return max(sum(1 for t in times if start <= t < start + window) for start in times)

    # Every sliding window, as SES sees the calls arrive (at the proxies), including the first.
    assert busiest(1.0) <= 20
    assert busiest(3.0) <= 60
