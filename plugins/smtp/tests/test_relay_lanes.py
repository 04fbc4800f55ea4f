"""The lanes of the smtp delivery (postgate_smtp/lanes.py) against an aiosmtpd relay: several send
calls share the pool's connections, a row whose lease was lost is never sent, and a ledger that
fails stops its call before anything more of it reaches the relay."""

from __future__ import annotations

import asyncio
import pathlib
import sys

import pytest

from postgate import RenderedMessage

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from smtp_relay_helpers import DOMAIN, smtp_gateway  # noqa: E402
from relay_sink import Relay  # noqa: E402


def message(row: int) -> RenderedMessage:
    raw = f"From: a@{DOMAIN}\r\nTo: r{row}@example.com\r\nSubject: {row}\r\n\r\nbody {row}\r\n".encode()
    return RenderedMessage(recipient_id=row, batch_id=1, domain=DOMAIN, envelope_from=f"a@{DOMAIN}",
                           recipient=f"r{row}@example.com", message_id=f"{row}@{DOMAIN}", headers=[], raw=raw)


class Ledger:
    """An outcome sink that keeps what it is told; ``lost`` rows were taken over by another
    worker, and from the ``fail_from``-th mark on the ledger fails."""

    def __init__(self, lost: frozenset[int] = frozenset(), fail_from: int | None = None) -> None:
        self.lost = lost
        self.fail_from = fail_from
        self.marked: list[int] = []
        self.asked = 0  # marks asked for, stored or not
        self.results: dict[int, str] = {}

    async def dispatching(self, recipient_ids):
        self.asked += 1
        await asyncio.sleep(0.001)  # a ledger write takes a while
        if self.fail_from is not None and len(self.marked) + 1 >= self.fail_from:
            raise RuntimeError("the ledger is down")
        self.marked.extend(recipient_ids)
        return [i for i in recipient_ids if i not in self.lost]

    async def result(self, result):
        assert result.recipient_id not in self.results, "a result came twice"
        self.results[result.recipient_id] = result.outcome


def relay_rows(relay: Relay) -> list[int]:
    return sorted(int(copy.rcpt_to[0][1:].partition("@")[0]) for copy in relay.received)


async def test_send_calls_share_the_connections_and_each_row_goes_once(gateway_factory):
    with Relay(None, tls="none", auth=False) as relay:
        gw = smtp_gateway(gateway_factory, relay, relay_connections=2)
        await gw.start()
        try:
            ledgers = [Ledger(lost=frozenset({call * 10 + 3})) for call in range(5)]
            await asyncio.gather(*(gw.delivery.send_each([message(call * 10 + i) for i in range(10)], ledger)
                                   for call, ledger in enumerate(ledgers)))
            lost = {call * 10 + 3 for call in range(5)}
            assert relay_rows(relay) == sorted(set(range(50)) - lost)
            for call, ledger in enumerate(ledgers):
                assert ledger.results == {call * 10 + i: "delivered" for i in range(10) if i != 3}
            assert gw.delivery.pool.opened == 2  # two lanes, whatever the number of calls
        finally:
            await gw.stop()


async def test_a_failing_ledger_stops_the_call_before_more_reaches_the_relay(gateway_factory):
    with Relay(None, tls="none", auth=False) as relay:
        gw = smtp_gateway(gateway_factory, relay, relay_connections=2)
        await gw.start()
        try:
            ledger = Ledger(fail_from=4)
            with pytest.raises(RuntimeError, match="the ledger is down"):
                await gw.delivery.send_each([message(i) for i in range(20)], ledger)
            await asyncio.sleep(0.2)  # nothing still on its way
            assert set(relay_rows(relay)) <= set(ledger.marked)  # only rows whose mark was stored
            assert len(ledger.marked) == 3
            # Once the call has failed, its queued messages are dropped: only those the two lanes
            # had already started marking (one each, plus one ahead) were asked for after it.
            assert ledger.asked <= 3 + 2 * (1 + 1) < 20
            # The connections stay usable for the next call.
            other = Ledger()
            await gw.delivery.send_each([message(100 + i) for i in range(4)], other)
            assert other.results == {100 + i: "delivered" for i in range(4)}
        finally:
            await gw.stop()
