"""The smtp delivery backend through a real gateway and worker, against aiosmtpd relays with TLS on."""

from __future__ import annotations

import pathlib
import sys

import pytest

from postgate import RecipientStatus

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from smtp_relay_helpers import PASSWORD_ENV, DOMAIN, batch, drain, events_of, smtp_gateway  # noqa: E402
from relay_sink import PASSWORD, Relay, make_certificates  # noqa: E402


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def relay_password(monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


async def ledger(gw):
    return {row.address: row for row in await gw.storage.list_recipients(1, 0, 10_000)}


async def test_starttls_auth_one_envelope_per_recipient_and_every_outcome(gateway_factory, certificates):
    with Relay(certificates, tls="starttls") as relay:
        gw = smtp_gateway(gateway_factory, relay, certificates)
        await gw.start()
        good = [f"member{i}@example.com" for i in range(6)]
        addresses = [*good, "bounce@example.com", "full@example.com", "spam@example.com", "tempfail@example.com"]
        await gw.accept(batch(addresses))
        await drain(gw)

        rows = await ledger(gw)
        for address in good:
            assert rows[address].status == RecipientStatus.DELIVERED
            (copy,) = relay.handler.to(address)
            assert copy.rcpt_to == [address]  # one envelope per recipient
            assert copy.mail_from == "noreply@mg.example.com"
            assert copy.tls and copy.authenticated
            number = good.index(address)
            assert copy.message["Subject"] == f"Hi {number}"
            assert ".leading dot line" in copy.message.get_body(("plain",)).get_content()  # dot-stuffing undone
        assert len(relay.received) == len(good)
        assert gw.delivery.pool.opened <= 3  # 2 pooled connections, reused (the refusals were RSET, not closed)
        assert gw.delivery.pool.pipelined == gw.delivery.pool.opened  # MAIL, RCPT and DATA in one write

        delivered = {e.recipient: e for e in await events_of(gw, "delivered")}
        assert set(delivered) == set(good)
        status = delivered[good[0]].payload["delivery-status"]
        assert status["code"] == 250 and status["message"].startswith("250 2.0.0 Ok: queued as Q")

        failed = [e for e in await events_of(gw, "failed")]
        by = {}
        for event in failed:
            by.setdefault(event.recipient, []).append(event.payload)
        (bounce,) = by["bounce@example.com"]
        assert bounce["severity"] == "permanent" and bounce["reason"] == "bounce"
        assert bounce["delivery-status"]["code"] == 550
        assert bounce["delivery-status"]["enhanced-code"] == "5.1.1"
        assert "User unknown" in bounce["delivery-status"]["message"]
        (full,) = by["full@example.com"]
        assert (full["severity"], full["reason"], full["delivery-status"]["enhanced-code"]) == \
            ("permanent", "bounce", "5.2.2")
        (spam,) = by["spam@example.com"]
        assert (spam["severity"], spam["reason"], spam["delivery-status"]["code"]) == ("permanent", "generic", 554)
        temporary = by["tempfail@example.com"]
        assert [p["severity"] for p in temporary] == ["temporary", "temporary", "permanent"]
        assert temporary[0]["delivery-status"]["code"] == 451
        assert temporary[0]["delivery-status"]["enhanced-code"] == "4.2.0"
        assert temporary[-1]["reason"] == "old"

        # The same suppression rules as SES bounces: the hard bounces went on the bounce list, the
        # policy refusal did not, and the next send to them is dropped with 605.
        assert await gw.storage.get_suppression(DOMAIN, "bounces", "bounce@example.com") is not None
        assert await gw.storage.get_suppression(DOMAIN, "bounces", "full@example.com") is not None
        assert await gw.storage.get_suppression(DOMAIN, "bounces", "spam@example.com") is None
        await gw.accept(batch(["bounce@example.com", "member0@example.com"], subject="again"))
        await drain(gw)
        rows2 = {row.address: row for row in await gw.storage.list_recipients(2, 0, 100)}
        assert rows2["bounce@example.com"].status == RecipientStatus.SUPPRESSED
        drops = [e for e in await events_of(gw, "failed")
                 if e.recipient == "bounce@example.com" and e.payload["delivery-status"]["code"] == 605]
        assert len(drops) == 1 and drops[0].payload["reason"] == "suppress-bounce"
        assert len(relay.handler.to("member0@example.com")) == 2


async def test_implicit_tls_and_verp_return_path(gateway_factory, certificates):
    with Relay(certificates, tls="implicit") as relay:
        gw = smtp_gateway(gateway_factory, relay, certificates, relay_verp_address="bounces@bounce.mg.example.com")
        await gw.start()
        await gw.accept(batch(["a@example.com", "b@example.com"]))
        await drain(gw)
        rows = await ledger(gw)
        for address in ("a@example.com", "b@example.com"):
            (copy,) = relay.handler.to(address)
            assert copy.tls and copy.authenticated
            assert copy.mail_from == f"bounces+pg1-{rows[address].id}@bounce.mg.example.com"
            assert rows[address].status == RecipientStatus.DELIVERED


async def test_certificate_of_an_unknown_ca_is_refused(gateway_factory, certificates, tmp_path):
    other = make_certificates(tmp_path / "other")
    with Relay(certificates, tls="starttls") as relay:
        gw = smtp_gateway(gateway_factory, relay, other, gateway={"retry_delays": [0.1]})
        await gw.start()
        await gw.accept(batch(["a@example.com"]))
        await drain(gw)
        assert relay.received == []
        (first, last) = await events_of(gw, "failed")
        status = first.payload["delivery-status"]
        assert first.payload["severity"] == "temporary"
        assert (status["code"], status["enhanced-code"]) == (421, "4.7.0")
        assert "CERTIFICATE_VERIFY_FAILED" in status["message"]
        assert last.payload["reason"] == "old"
        with pytest.raises(RuntimeError, match="cannot reach the SMTP relay"):
            await gw.delivery.check()


async def test_wrong_password_is_a_temporary_failure(gateway_factory, certificates, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    with Relay(certificates, tls="starttls") as relay:
        gw = smtp_gateway(gateway_factory, relay, certificates, gateway={"retry_delays": [0.1]})
        await gw.start()
        await gw.accept(batch(["a@example.com"]))
        await drain(gw)
        assert relay.received == []
        first = (await events_of(gw, "failed"))[0].payload
        assert first["severity"] == "temporary"
        assert first["delivery-status"]["enhanced-code"] == "4.7.8"


async def test_a_relay_that_drops_the_connection_after_the_message_never_gets_it_twice(gateway_factory, certificates):
    with Relay(certificates, tls="starttls") as relay:
        gw = smtp_gateway(gateway_factory, relay, certificates)
        await gw.start()
        await gw.accept(batch(["drop@example.com", "ok@example.com"]))
        await drain(gw)
        rows = await ledger(gw)
        # The relay queued it and hung up before answering: in doubt, settled by gateway.in_doubt
        # (hold) as sent, with no event, and never handed to the relay again.
        assert len(relay.handler.to("drop@example.com")) == 1
        assert rows["drop@example.com"].status == RecipientStatus.SENT
        assert "in doubt" in (rows["drop@example.com"].error or "")
        assert [e.recipient for e in await events_of(gw, "delivered")] == ["ok@example.com"]
        assert not [e for e in await events_of(gw, "failed") if e.recipient == "drop@example.com"]
        assert rows["ok@example.com"].status == RecipientStatus.DELIVERED


async def test_a_relay_that_hangs_up_mid_data_queues_nothing_and_the_row_is_held(gateway_factory, certificates):
    with Relay(certificates, tls="starttls") as relay:
        gw = smtp_gateway(gateway_factory, relay, certificates)
        await gw.start()
        await gw.accept(batch(["cut@example.com", "ok@example.com"]))
        await drain(gw)
        rows = await ledger(gw)
        # The relay said 354, read a line of the message and hung up: it queued nothing, but the
        # client cannot tell that from a lost answer to the final dot, so the row is in doubt and
        # gateway.in_doubt (hold) records it as sent, with no event and no second send.
        assert relay.handler.cut == ["cut@example.com"]
        assert relay.handler.to("cut@example.com") == []
        assert rows["cut@example.com"].status == RecipientStatus.SENT
        assert "in doubt" in (rows["cut@example.com"].error or "")
        assert not [e for e in await events_of(gw) if e.recipient == "cut@example.com" and e.event != "accepted"]
        assert rows["ok@example.com"].status == RecipientStatus.DELIVERED
        assert len(relay.handler.to("ok@example.com")) == 1


@pytest.mark.parametrize("pipelining", [True, False])
async def test_with_in_doubt_resend_a_message_cut_mid_data_reaches_the_relay_once(gateway_factory, certificates,
                                                                                   pipelining):
    with Relay(certificates, tls="starttls", pipelining=pipelining) as relay:
        gw = smtp_gateway(gateway_factory, relay, certificates, gateway={"in_doubt": "resend"})
        await gw.start()
        await gw.accept(batch(["cut@example.com", "ok@example.com"]))
        await drain(gw)
        rows = await ledger(gw)
        assert relay.handler.cut == ["cut@example.com"]
        (copy,) = relay.handler.to("cut@example.com")  # the second transaction, whole
        assert copy.message["Subject"] == "Hi 0"
        assert rows["cut@example.com"].status == RecipientStatus.DELIVERED
        assert [e.recipient for e in await events_of(gw, "delivered")].count("cut@example.com") == 1
        assert not [e for e in await events_of(gw, "failed") if e.recipient == "cut@example.com"]
        assert len(relay.handler.to("ok@example.com")) == 1


async def test_relay_max_rate_spreads_the_messages_over_time(gateway_factory):
    with Relay(None, tls="none", auth=False) as relay:
        gw = smtp_gateway(gateway_factory, relay, None, relay_max_rate=4, relay_connections=4)
        await gw.start()
        addresses = [f"reader{i}@example.com" for i in range(12)]
        await gw.accept(batch(addresses))
        await drain(gw)
        assert sorted(r.rcpt_to[0] for r in relay.received) == sorted(addresses)
        # 12 messages at 4 a second fill three 1-second windows: the last cannot reach the relay
        # less than about 2 s after the first (a lower bound, which a slow machine only widens;
        # without the rate the local relay takes them all within a fraction of a second).
        times = sorted(r.at for r in relay.received)
        assert times[-1] - times[0] >= 1.5, times


async def test_relay_without_tls_auth_or_pipelining(gateway_factory):
    with Relay(None, tls="none", auth=False, pipelining=False) as relay:
        gw = smtp_gateway(gateway_factory, relay, None)
        await gw.start()
        await gw.accept(batch(["plain@example.com", "bounce@example.com", "tempfail@example.com", "next@example.com"]))
        await drain(gw)
        assert sorted(r.rcpt_to[0] for r in relay.received) == ["next@example.com", "plain@example.com"]
        assert not relay.received[0].tls and not relay.received[0].authenticated
        assert gw.delivery.pool.pipelined == 0  # each command waited for its reply
        rows = await ledger(gw)
        assert rows["bounce@example.com"].status == RecipientStatus.FAILED
        assert rows["next@example.com"].status == RecipientStatus.DELIVERED
