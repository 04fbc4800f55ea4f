"""The outbox's pretend readers, end to end on Hypercorn: a batch goes out, the readers fetch the
pixel and links of their own ``.eml`` with their clients' user agents, and the events Ghost pages
show the seeded shares, with Apple's and Gmail's proxy opens flagged."""

from __future__ import annotations

import logging
import time

import pytest
from pydantic import ValidationError

from postgate import hookimpl
from postgate.builtin.outbox import Outbox
from postgate_tracking import plugin
from postgate_tracking.reader_settings import SimulateReaders
from postgate_tracking.simulated_readers import plan_reader, simulated_readers_for
from tracking_helpers import KEYS, events, outbox, send_batch, tracking_settings, tracking_urls

EMAIL_ID = "6740a1b2c3d4e5f6a7b8c9d1"
READERS = {"open_share": 0.5, "click_share": 0.2, "apple_share": 0.25, "gmail_share": 0.25,
           "delay_seconds": [0, 0.3], "click_delay_seconds": [0, 0.2], "seed": 11}
MEMBERS = [f"member{i}@example.com" for i in range(40)]


def start(live_server, monkeypatch, readers: dict = READERS, **extra):
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    settings = tracking_settings(simulate_readers=readers, **extra)
    server = live_server(plugins=[plugin], plugin_settings=settings)
    readers = simulated_readers_for(server.gateway)
    if readers is not None:  # the live server picks its port after the settings are made
        readers.config.fetch_origin = server.url
    return server


def settled(server, timeout: float = 30.0) -> None:
    """Wait until no reader is left waiting."""
    readers = simulated_readers_for(server.gateway)
    deadline = time.monotonic() + timeout
    while readers.tasks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not readers.tasks


def test_readers_open_and_click_as_planned_and_proxies_are_labelled(live_server, monkeypatch) -> None:
    server = start(live_server, monkeypatch, machines="label")
    send_batch(server, MEMBERS + ["bounce@simulator.amazonses.com"], EMAIL_ID, tracking_opens="yes",
               tracking_clicks="yes")
    mails = {m["To"].addresses[0].addr_spec: m for m in outbox(server, len(MEMBERS) + 1)}  # a bounce is written too
    config = SimulateReaders(**READERS)
    plans = {address: plan_reader(config, address) for address in MEMBERS}
    openers = {a: p for a, p in plans.items() if p.open_agent}
    clickers = {a for a, p in plans.items() if p.click_agent}
    assert openers and clickers  # the seed gives both, or this test shows nothing
    expected_bot = {"apple-mpp": "apple", "gmail": "gmail"}

    opened = events(server, "opened", len(openers))
    clicked = events(server, "clicked", len(clickers))
    settled(server)
    assert sorted(e["recipient"] for e in opened) == sorted(openers)
    for event in opened:
        plan = openers[event["recipient"]]
        assert event["client-info"]["bot"] == expected_bot.get(plan.client, "")
        assert event["client-info"]["user-agent"] == plan.open_agent
        assert event["user-variables"]["email-id"] == EMAIL_ID
    assert sorted(e["recipient"] for e in clicked) == sorted(clickers)
    originals = {"https://blog.example.com/p/one/?ref=news&utm=1", "https://blog.example.com/p/two/"}
    for event in clicked:
        assert event["url"] in originals
        # The seeded delays put every click within seconds of delivery: a scanner's timing.
        assert (event["client-info"]["bot"], event["machine-rule"]) == ("generic", "timing:<10s")
    # Apple's proxy fetched for its readers whether they read or not; the bounce had no reader.
    apple = {a for a, p in plans.items() if p.client == "apple-mpp"}
    assert apple and apple <= set(openers)
    assert all(tracking_urls(mails[a])[0] for a in openers)


def test_default_policy_keeps_proxy_opens_flagged(live_server, monkeypatch) -> None:
    server = start(live_server, monkeypatch)
    send_batch(server, MEMBERS, EMAIL_ID, tracking_opens="yes", tracking_clicks="yes")
    outbox(server, len(MEMBERS))
    config = SimulateReaders(**READERS)
    plans = {address: plan_reader(config, address) for address in MEMBERS}
    openers = {a for a, p in plans.items() if p.open_agent}
    opened = events(server, "opened", len(openers))
    settled(server)
    bots = {e["recipient"]: e["client-info"]["bot"] for e in opened}
    assert set(bots) == openers
    assert {"apple", "gmail", ""} == set(bots.values())
    # Clicks this soon after delivery are a scanner's, hidden by the default drop-scanners.
    assert events(server, "clicked", 0) == []


def test_later_clicks_are_people_under_the_default_policy(live_server, monkeypatch) -> None:
    everyone = {**READERS, "open_share": 1.0, "click_share": 1.0, "apple_share": 0.0, "gmail_share": 0.0,
                "click_delay_seconds": [10.5, 11.0]}
    server = start(live_server, monkeypatch, everyone)
    send_batch(server, MEMBERS[:4], EMAIL_ID, tracking_opens="yes", tracking_clicks="yes")
    outbox(server, 4)
    clicked = events(server, "clicked", 4, timeout=40)
    settled(server)
    assert sorted(e["recipient"] for e in clicked) == sorted(MEMBERS[:4])
    assert {e["client-info"]["bot"] for e in clicked} == {""}
    assert all("machine-rule" not in e for e in clicked)


def test_readers_still_waiting_are_dropped_at_shutdown(live_server, monkeypatch) -> None:
    server = start(live_server, monkeypatch, {**READERS, "open_share": 1.0, "delay_seconds": [300, 600]})
    readers = simulated_readers_for(server.gateway)
    send_batch(server, MEMBERS[:5], EMAIL_ID, tracking_opens="yes")
    outbox(server, 5)
    events(server, "delivered", 5)
    deadline = time.monotonic() + 15
    while len(readers.tasks) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(readers.tasks) == 5
    server.stop()
    assert not readers.tasks and readers.failures == 0
    assert simulated_readers_for(server.gateway) is None


class FilesDelivery(Outbox):
    """Another delivery backend that happens to write files: the simulator must still refuse."""

    name = "files"


class FilesPlugin:
    @hookimpl
    def register_deliveries(self, register):
        register("files", FilesDelivery)


def test_nothing_on_another_delivery_backend(live_server, monkeypatch, caplog) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    caplog.set_level(logging.WARNING, "postgate.tracking.simulated_readers")
    server = live_server(plugins=[plugin, FilesPlugin()], backends={"delivery": "files"},
                         plugin_settings=tracking_settings(simulate_readers={**READERS, "open_share": 1.0},
                                                           machines="label"))
    assert simulated_readers_for(server.gateway) is None
    assert "simulate_readers is ignored: the delivery backend is 'files'" in caplog.text
    send_batch(server, MEMBERS[:5], EMAIL_ID, tracking_opens="yes")
    outbox(server, 5)
    assert len(events(server, "delivered", 5)) == 5
    assert events(server, "opened", 0) == []


def test_shares_follow_the_settings_and_the_seed() -> None:
    config = SimulateReaders(**{**READERS, "open_share": 0.4, "click_share": 0.1, "apple_share": 0.3,
                                "gmail_share": 0.2})
    addresses = [f"reader{i}@example.net" for i in range(4000)]
    plans = [plan_reader(config, a) for a in addresses]
    share = lambda test: sum(map(test, plans)) / len(plans)  # noqa: E731
    apple = share(lambda p: p.client == "apple-mpp")
    assert abs(apple - 0.3) < 0.03
    assert abs(share(lambda p: p.client == "gmail") - 0.2) < 0.03
    assert abs(share(lambda p: p.click_agent is not None) - 0.1) < 0.02
    # Opens: the readers (40%) plus Apple's prefetch of the non-readers among its 30%.
    assert abs(share(lambda p: p.open_agent is not None) - (0.4 + 0.3 * 0.6)) < 0.03
    assert plans == [plan_reader(config, a) for a in addresses]
    unseeded = config.model_copy(update={"seed": None})
    assert [plan_reader(unseeded, a) for a in addresses[:50]] != plans[:50]


@pytest.mark.parametrize("bad", [{"click_share": 0.5, "open_share": 0.2}, {"apple_share": 0.7, "gmail_share": 0.5},
                                 {"delay_seconds": [5, 1]}, {"fetch_origin": "ftp://x"}])
def test_inconsistent_settings_are_refused(bad) -> None:
    with pytest.raises(ValidationError):
        SimulateReaders(**bad)
