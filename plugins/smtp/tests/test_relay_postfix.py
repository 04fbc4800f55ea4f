"""Delivery through Debian's Postfix (where the machine has it): STARTTLS required and verified,
Postfix queues and relays to an aiosmtpd sink; a recipient the sink refuses comes back as a real
Postfix DSN to the VERP address, which the DSN parser and matcher turn into a hard bounce."""

from __future__ import annotations

import asyncio
import pathlib
import sys
import time

import pytest

from postgate import RecipientStatus

sys.path.insert(0, str(pathlib.Path(__file__).parent))

import postfix_relay  # noqa: E402
from smtp_relay_helpers import DOMAIN, batch, drain, events_of, settings_for, smtp_gateway  # noqa: E402
from relay_sink import Relay, make_certificates  # noqa: E402

pytestmark = pytest.mark.skipif(not postfix_relay.available(), reason="Debian's postfix is not installed here")


async def wait_for(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_delivery_through_postfix_and_its_dsn(gateway_factory, tmp_path):
    from postgate_smtp.dsn import parse_dsn
    from postgate_smtp.imap_source import DsnMatcher

    certificates = make_certificates(tmp_path / "tls")
    with Relay(None, tls="none", auth=False) as sink, \
            postfix_relay.postfix_relay(certificates.cert_file, certificates.key_file, sink.port) as port:
        settings = settings_for(port, "starttls", certificates, auth=False,
                                relay_verp_address="dsn@bounce.mg.example.com")
        gw = smtp_gateway(gateway_factory, settings)
        await gw.start()
        await gw.accept(batch(["ok1@example.com", "ok2@example.com", "bounce@example.com"]))
        await drain(gw)
        rows = {row.address: row for row in await gw.storage.list_recipients(1, 0, 100)}
        assert all(row.status == RecipientStatus.DELIVERED for row in rows.values())  # Postfix queued them
        assert gw.delivery.pool.pipelined >= 1  # Postfix offers PIPELINING
        delivered = {e.recipient: e.payload for e in await events_of(gw, "delivered")}
        assert delivered["ok1@example.com"]["delivery-status"]["message"].startswith("250 2.0.0 Ok: queued as ")

        bounce_row = rows["bounce@example.com"]
        verp = f"dsn+pg1-{bounce_row.id}@bounce.mg.example.com"
        await wait_for(lambda: sink.handler.to(verp) and sink.handler.to("ok2@example.com"))
        assert [len(sink.handler.to(a)) for a in ("ok1@example.com", "ok2@example.com")] == [1, 1]
        (ok1,) = sink.handler.to("ok1@example.com")
        assert ok1.mail_from == f"dsn+pg1-{rows['ok1@example.com'].id}@bounce.mg.example.com"
        assert ok1.message["Subject"] == "Hi 0"

        (report,) = sink.handler.to(verp)
        (found,) = parse_dsn(report.data)
        assert found.recipient == "bounce@example.com"
        assert (found.permanent, found.status, found.code) == (True, "5.1.1", 550)
        assert found.verp == (1, bounce_row.id)
        assert found.original_message_id == bounce_row.message_id
        await gw.record_events(await DsnMatcher(gw).events(report.data, [found]))
        (failed,) = await events_of(gw, "failed")
        assert (failed.recipient, failed.payload["reason"]) == ("bounce@example.com", "bounce")
        assert await gw.storage.get_suppression(DOMAIN, "bounces", "bounce@example.com") is not None
