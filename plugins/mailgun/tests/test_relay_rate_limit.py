"""A 429 from the upstream slows the relay down instead of being hammered (real HTTP on loopback).

A proxy in front of a second Postgate acting as Mailgun answers 429 to every send call for a few
seconds from the first one; the relay must make few calls in that window (those already in flight
when the first 429 came back, then one probe per pause), then deliver every recipient once.
"""

from __future__ import annotations

from collections import Counter

from relay_helpers import UPSTREAM_DOMAIN, UPSTREAM_KEY, events, ghost_batch, post_batch, start_relay, start_upstream
from relay_helpers import wait_for
from relay_proxy import RelayProxy

from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY

ADDRESSES = [f"subscriber{i}@example.org" for i in range(40)]
#: Upstream calls in flight at most (the first 429 answers every call already started).
CONNECTIONS = 8
#: Long enough that no row runs out of retries, or waits past its lease, during the window.
GATEWAY = {"lease_seconds": 30.0, "retry_delays": [0.2] * 6 + [1.0] * 10}


def relay_through(live_server, proxy: RelayProxy, **settings):
    return start_relay(live_server, proxy.url, gateway=GATEWAY, concurrency=4, max_connections=CONNECTIONS,
                       **settings)


def delivered_once(upstream, relay) -> None:
    """Every recipient reached the upstream once and is delivered once in the relay's history."""
    delivered = wait_for(lambda: len(found := events(relay, TEST_DOMAIN, TEST_KEY, event="delivered"))
                         == len(ADDRESSES) and found, "every recipient delivered", timeout=90)
    accepted = events(upstream, UPSTREAM_DOMAIN, UPSTREAM_KEY, event="accepted")
    assert Counter(e["recipient"] for e in accepted) == Counter({a: 1 for a in ADDRESSES})
    assert Counter(e["recipient"] for e in delivered) == Counter({a: 1 for a in ADDRESSES})


def test_retry_after_pauses_every_call_until_the_upstream_takes_mail_again(live_server, upstream_key):
    upstream = start_upstream(live_server)
    with RelayProxy(upstream.url) as proxy:
        proxy.rate_limit(2.0, {"Retry-After": "2"})
        relay = relay_through(live_server, proxy)
        post_batch(relay, ghost_batch(ADDRESSES))
        delivered_once(upstream, relay)
        in_window = proxy.calls_in_window()
    # Only the calls already in flight when the first 429 came back (one burst, one cut).
    assert 1 <= in_window <= CONNECTIONS, in_window
    assert proxy.limited == in_window
    pacer = relay.gateway.delivery.pacer
    assert (pacer.cuts, pacer.limited_calls) == (1, in_window)  # one burst: halved once
    assert pacer.limit > CONNECTIONS / 2  # and grown back as the upstream took mail again
    temporary = events(relay, TEST_DOMAIN, TEST_KEY, event="failed")
    assert len(temporary) == proxy.limited and all(e["severity"] == "temporary" for e in temporary)


def test_without_headers_a_doubling_backoff_probes_one_call_at_a_time(live_server, upstream_key):
    upstream = start_upstream(live_server)
    with RelayProxy(upstream.url) as proxy:
        proxy.rate_limit(3.0, {})
        relay = relay_through(live_server, proxy, rate_limit_backoff_seconds=0.5)
        post_batch(relay, ghost_batch(ADDRESSES))
        delivered_once(upstream, relay)
        in_window = proxy.calls_in_window()
    # The burst in flight, then probes after 0.5, 1 and 2 s of pause: at most three in 3 s.
    assert 1 <= in_window <= CONNECTIONS + 3, in_window
    assert proxy.sends == len(ADDRESSES) + proxy.limited  # each 429'd call sent again once, nothing else


def test_x_ratelimit_reset_in_epoch_milliseconds_is_honoured(live_server, upstream_key):
    upstream = start_upstream(live_server)
    with RelayProxy(upstream.url) as proxy:
        proxy.rate_limit(2.0, {"X-RateLimit-Reset": lambda ends: str(int((ends + 0.5) * 1000))})
        relay = relay_through(live_server, proxy, rate_limit_backoff_seconds=0.1)
        post_batch(relay, ghost_batch(ADDRESSES))
        delivered_once(upstream, relay)
        in_window = proxy.calls_in_window()
    # The reset is past the window's end: no probe inside it (a 0.1 s backoff would have made ~5).
    assert 1 <= in_window <= CONNECTIONS, in_window
