"""Delivery routes: per domain, per tag, and by a stable share of a batch's recipients.

Two outbox-like deliveries (``left`` and ``right``, each writing its own folder) stand for two
providers behind the built-in ``routes`` delivery, in a real gateway (sqlite, local queue, workers).
"""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postgate.builtin.outbox import Outbox
from postgate.builtin.routes import RoutesSettings, choose, pick, share_point
from postgate.domain import Message
from postgate.hookspecs import hookimpl
from postgate.settings import ConfigError
from postgate.worker import Worker

DOMAIN = "mg.example.com"


class Tray(Outbox):
    """An outbox in its own sub-folder, counting sends per recipient address."""

    label = ""

    def __init__(self, gateway) -> None:
        super().__init__(gateway)
        self.folder = Path(gateway.settings.data_dir) / self.label
        self.sends: collections.Counter[str] = collections.Counter()

    def _send_all(self, messages):
        self.sends.update(m.recipient for m in messages)
        return super()._send_all(messages)


class Left(Tray):
    label = "left"


class Right(Tray):
    label = "right"
    max_rate = 500.0  # held to its own send window, bucket delivery:right


class TraysPlugin:
    @hookimpl
    def register_deliveries(self, register):
        register("left", Left)
        register("right", Right)


def routed_gateway(gateway_factory, **routes):
    return gateway_factory(plugins=[TraysPlugin()], backends={"delivery": "routes"},
                           plugin_settings={"routes": routes})


def newsletter(addresses: list[str], tags: list[str], domain: str = DOMAIN) -> Message:
    return Message(domain=domain, sender=f"News <news@{domain}>", to=list(addresses), subject="Hi %recipient.n%",
                   text="Hello %recipient.n%", recipient_variables={a: {"n": str(i)} for i, a in enumerate(addresses)},
                   tags=tags)


async def drain(gateway, timeout: float = 60.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(gateway, "w0").run(stop))
    deadline = time.monotonic() + timeout
    try:
        while await gateway.queue.depth():
            assert time.monotonic() < deadline, "the queue did not drain"
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


def addresses(count: int, prefix: str = "reader") -> list[str]:
    return [f"{prefix}{i}@example.org" for i in range(count)]


# -- the choice, pure -------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(batch_id=st.integers(min_value=1, max_value=2**40), prefix=st.text("abcxyz0123", min_size=1, max_size=8),
       share=st.sampled_from([5, 20, 50, 80]))
def test_a_split_is_near_its_weights_and_stable(batch_id, prefix, share):
    people = addresses(4000, prefix)
    split = {"ses": share, "mailgun": 100 - share}
    chosen = [pick(split, share_point(batch_id, a)) for a in people]
    ratio = chosen.count("ses") / len(people)
    assert abs(ratio - share / 100) < 0.04  # ~5 standard deviations at n = 4000
    assert chosen == [pick(split, share_point(batch_id, a.upper())) for a in people]  # stable, case-blind


@settings(max_examples=25, deadline=None)
@given(batch_id=st.integers(min_value=1, max_value=2**40), prefix=st.text("abcxyz0123", min_size=1, max_size=8))
def test_growing_the_first_share_only_moves_recipients_to_it(batch_id, prefix):
    people = addresses(1000, prefix)
    steps = [{"ses": 5, "mailgun": 95}, {"ses": 50, "mailgun": 50}, {"ses": 100, "mailgun": 0}]
    taken = [{a for a in people if pick(s, share_point(batch_id, a)) == "ses"} for s in steps]
    assert taken[0] <= taken[1] <= taken[2] == set(people)
    # Rolling back (the old line again) gives back exactly the old set.
    assert {a for a in people if pick(steps[0], share_point(batch_id, a)) == "ses"} == taken[0]


def test_rules_by_domain_and_tag_first_match_wins():
    routes = RoutesSettings(default="left", rules=[
        {"match": {"domain": "news.example.com", "tag": "newsletter"}, "split": {"right": 1}},
        {"match": {"tag": "Receipts"}, "split": {"right": 1}},
    ])
    assert choose(routes, "NEWS.example.com", ["newsletter"], 1, "a@example.org") == "right"
    assert choose(routes, "news.example.com", ["other"], 1, "a@example.org") == "left"
    assert choose(routes, "shop.example.com", ["receipts"], 1, "a@example.org") == "right"
    assert choose(routes, "shop.example.com", [], 1, "a@example.org") == "left"


def test_bad_tables_are_refused():
    with pytest.raises(ValueError):
        RoutesSettings(rules=[{"split": {}}])
    with pytest.raises(ValueError):
        RoutesSettings(rules=[{"split": {"left": -1, "right": 2}}])
    with pytest.raises(ValueError):
        RoutesSettings(rules=[{"match": {"sender": "x"}, "split": {"left": 1}}])


# -- through a real gateway -------------------------------------------------------------------


async def test_a_batch_is_split_by_its_rule_each_recipient_once(gateway_factory):
    gw = routed_gateway(gateway_factory, default="left",
                        rules=[{"match": {"tag": "newsletter"}, "split": {"right": 20, "left": 80}}])
    await gw.start()
    people = addresses(300)
    await gw.accept(newsletter(people, ["newsletter"]))
    await gw.accept(newsletter(addresses(5, "receipt"), ["receipt"]))
    await drain(gw)
    left, right = gw.delivery.routes["left"], gw.delivery.routes["right"]
    assert set(left.sends.values()) == set(right.sends.values()) == {1}
    assert set(left.sends) | set(right.sends) == set(people) | set(addresses(5, "receipt"))
    assert set(addresses(5, "receipt")) <= set(left.sends)  # no rule: the default
    batch_id = (await gw.storage.list_recipients(1, 0, 1))[0].batch_id
    expected = {a for a in people if pick({"right": 20, "left": 80}, share_point(batch_id, a)) == "right"}
    assert set(right.sends) == expected
    assert 0.10 < len(expected) / len(people) < 0.30
    assert len(list((Path(gw.settings.data_dir) / "right" / DOMAIN).glob("*.eml"))) == len(expected)


async def test_editing_one_line_moves_the_share(gateway_factory):
    shares = {}
    for line in ({"right": 5, "left": 95}, {"right": 50, "left": 50}, {"right": 100, "left": 0}):
        gw = routed_gateway(gateway_factory, default="left", rules=[{"match": {"domain": DOMAIN}, "split": line}])
        await gw.start()
        await gw.accept(newsletter(addresses(200), ["newsletter"]))
        await drain(gw)
        shares[line["right"]] = len(gw.delivery.routes["right"].sends)
        await gw.stop()
    assert shares[5] < shares[50] < shares[100] == 200
    assert shares[5] < 30 and 60 < shares[50] < 140


async def test_unknown_route_names_are_a_configuration_error(gateway_factory):
    gw = routed_gateway(gateway_factory, default="left", rules=[{"split": {"nowhere": 1}}])
    with pytest.raises(ConfigError, match="nowhere"):
        await gw.start()


async def test_rows_in_doubt_are_settled_by_the_route_that_sent_them(gateway_factory):
    gw = routed_gateway(gateway_factory, default="left",
                        rules=[{"match": {"tag": "newsletter"}, "split": {"right": 50, "left": 50}}])
    await gw.start()
    await gw.accept(newsletter(addresses(40), ["newsletter"]))
    await drain(gw)
    rows = await gw.storage.list_recipients(1, 0, 100)
    settled = await gw.delivery.settle(rows)  # each tray knows only the files it wrote
    assert set(settled) == {row.id for row in rows}
    right = set(gw.delivery.routes["right"].sends)
    for row in rows:
        folder = "right" if row.address in right else "left"
        assert settled[row.id].outcome == "delivered"
        assert (Path(gw.settings.data_dir) / folder / DOMAIN / f"{row.id}.eml").exists()
    assert 0 < len(right) < 40


# -- each route in the operations snapshot ----------------------------------------------------


async def test_the_snapshot_shows_each_route_with_its_own_rate_in_use(gateway_factory):
    from postgate.status_view import render
    from postgate.send_allowance import GRANT_LEASE_SECONDS, send_window

    gw = routed_gateway(gateway_factory, default="left",
                        rules=[{"match": {"domain": DOMAIN, "tag": "newsletter"}, "split": {"right": 20, "left": 80}},
                               {"match": {"tag": "receipt"}, "split": {"right": 1}}])
    await gw.start()
    budget, window = send_window(Right.max_rate)
    now = time.time()
    await gw.storage.grant_sends("delivery:right", 120, budget, window, now, GRANT_LEASE_SECONDS)
    await gw.storage.grant_sends("delivery:left", 7, 10, 1.0, now, GRANT_LEASE_SECONDS)  # no rate: no figure shown

    snapshot = await gw.operations_snapshot()
    left, right = snapshot.routes
    assert (left.name, left.takes, left.max_rate, left.window_sends) == (
        "left", ["default", f"rule 1 (domain {DOMAIN}, tag newsletter): 80%"], None, None)
    assert (right.name, right.takes) == ("right", [f"rule 1 (domain {DOMAIN}, tag newsletter): 20%",
                                                   "rule 2 (tag receipt): 100%"])
    assert (right.max_rate, right.window_sends, right.window_budget, right.window_seconds) == (500.0, 120, 500, 1.0)
    assert right.quota.max_rate == 500.0 and left.quota is None
    assert snapshot.to_dict()["routes"][1]["window_sends"] == 120
    text = render(snapshot)
    assert "routes:    2 deliveries" in text
    assert "rate 500/s, 120 of 500 sends in its sliding 1 s window; quota: max 500/s (from max_rate)" in text
    assert "no rate limit of its own; quota: not reported by the delivery backend" in text

    # (what the bucket counts, released and leased grants: the storage contract's send_usage test)


async def test_a_single_delivery_has_no_routes_in_its_snapshot(gateway_factory):
    gw = gateway_factory()
    await gw.start()
    assert (await gw.operations_snapshot()).routes == []
