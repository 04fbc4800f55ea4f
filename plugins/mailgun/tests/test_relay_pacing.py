"""The relay's pacer on its own: the upstream's wait hints, AIMD on calls in flight, pauses."""

from __future__ import annotations

import asyncio
import email.utils
import math
import time

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postgate_mailgun.pacing import Held, Pacer, wait_hint

NOW = 1_800_000_000.0


def hint(**headers: str) -> float | None:
    return wait_hint(httpx.Headers({k.replace("_", "-"): v for k, v in headers.items()}), NOW)


def test_wait_hints_in_every_shape_mailgun_and_proxies_send():
    assert hint(retry_after="3") == 3.0
    assert hint(retry_after=email.utils.formatdate(NOW + 10, usegmt=True)) == pytest.approx(10.0)
    assert hint(retry_after=email.utils.formatdate(NOW - 10, usegmt=True)) == 0.0  # already past
    assert hint(x_ratelimit_reset=str(NOW + 4)) == pytest.approx(4.0)  # epoch seconds
    assert hint(x_ratelimit_reset=str(int((NOW + 4) * 1000))) == pytest.approx(4.0)  # epoch milliseconds
    assert hint(x_ratelimit_reset="7") == 7.0  # seconds from now
    assert hint(retry_after="soon", x_ratelimit_reset="5") == 5.0  # an unreadable Retry-After falls back
    assert hint(retry_after="2", x_ratelimit_reset="50") == 2.0  # Retry-After first
    assert hint() is None and hint(retry_after="nan") is None and hint(x_ratelimit_reset="inf") is None


@settings(max_examples=300, deadline=None)
@given(retry_after=st.one_of(st.none(), st.text(max_size=40)), reset=st.one_of(st.none(), st.text(max_size=40)))
def test_any_header_text_gives_a_finite_wait_or_none(retry_after, reset):
    headers = {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    if reset is not None:
        headers["x-ratelimit-reset"] = reset
    value = wait_hint(headers, NOW)
    assert value is None or (math.isfinite(value) and value >= 0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_429s_halves_once_then_one_probe_then_gradual_recovery():
    clock = Clock()
    pacer = Pacer(16, backoff=1.0, max_pause=60, max_wait=30, clock=clock)
    started = clock.now
    clock.now += 0.1
    assert pacer.limited(started, None) == 1.0  # first 429: pause the first backoff, halve
    assert (pacer.limit, pacer.allowed, pacer.resume_at) == (8.0, 1, clock.now + 1.0)
    for _ in range(7):  # the rest of the burst started before the cut: same congestion
        assert pacer.limited(started, None) is None
    assert (pacer.cuts, pacer.limit, pacer.limited_calls) == (1, 8.0, 8)
    pacer.answered(started)  # an old call's success says nothing about now
    assert pacer.allowed == 1

    clock.now += 1.0
    probe = clock.now
    clock.now += 0.1
    assert pacer.limited(probe, None) == 2.0  # the probe hit the limit again: backoff doubles
    assert (pacer.cuts, pacer.limit) == (2, 4.0)
    clock.now += 2.0
    probe = clock.now
    pacer.answered(probe)
    assert (pacer.allowed, pacer.backoff) == (4, 0.0)
    for _ in range(4):
        pacer.answered(probe)
    assert pacer.allowed == 5  # one more call per `limit` answers
    for _ in range(200):
        pacer.answered(probe)
    assert pacer.limit == 16.0 and pacer.factor == 1.0


def test_hints_are_honoured_within_bounds():
    clock = Clock()
    pacer = Pacer(4, backoff=0.5, max_pause=60, max_wait=30, clock=clock)
    assert pacer.limited(clock.now, 12.0) == 12.0
    assert pacer.limited(clock.now - 1, 20.0) == 20.0  # an older call's longer hint still extends the pause
    assert pacer.resume_at == clock.now + 20.0 and pacer.cuts == 1
    clock.now += 30
    assert pacer.limited(clock.now, 0.0) == 1.0  # a stale "now" is no licence: the doubling backoff
    clock.now += 1
    assert pacer.limited(clock.now, 0.0) == 2.0
    clock.now += 2
    assert pacer.limited(clock.now, 86_400.0) == 60  # never longer than max_pause
    pacer.answered(clock.now + 60)
    clock.now += 61
    assert pacer.limited(clock.now, None) == 0.5  # a success starts the backoff over


async def test_calls_wait_for_a_short_pause_and_are_held_back_from_a_long_one():
    pacer = Pacer(4, backoff=0.05, max_pause=60, max_wait=1.0)
    pacer.limited(pacer.clock(), 0.2)
    began = time.monotonic()
    async with pacer.turn():
        waited = time.monotonic() - began
        assert pacer.in_flight == 1
    assert 0.15 < waited < 5.0
    pacer.limited(pacer.clock(), 30.0)
    with pytest.raises(Held, match="paused for 30 s more"):
        async with pacer.turn():
            pytest.fail("no turn during a pause longer than max_wait")
    assert pacer.in_flight == 0


async def test_no_more_calls_in_flight_than_allowed():
    pacer = Pacer(3, backoff=1.0, max_pause=60, max_wait=30)
    most = 0

    async def call() -> None:
        nonlocal most
        async with pacer.turn():
            most = max(most, pacer.in_flight)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(call() for _ in range(20)))
    assert (most, pacer.in_flight) == (3, 0)
    pacer.limit = 1.5  # as after cuts
    most = 0
    await asyncio.gather(*(call() for _ in range(10)))
    assert most == 1


def test_the_relay_max_send_rate_follows_the_pacer(gateway_factory):
    import postgate_mailgun.plugin as relay_plugin

    gw = gateway_factory(plugins=[relay_plugin], plugin_settings={"mailgun_relay": {
        "max_send_rate": 10, "max_connections": 8, "rate_limit_max_wait_seconds": 300}},
        gateway={"lease_seconds": 120})
    relay = gw.deliveries.get("mailgun")(gw)
    assert relay.max_rate == 10 and relay.pacer.max_wait == 60  # waits stay within half the lease
    relay.pacer.limited(relay.pacer.clock(), None)
    assert relay.max_rate == 5
    relay.pacer.limited(relay.pacer.clock(), None)
    assert relay.max_rate == 2.5
    for _ in range(100):
        relay.pacer.answered(relay.pacer.clock())
    assert relay.max_rate == 10
