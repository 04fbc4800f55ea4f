"""The mailgun relay against a second Postgate acting as Mailgun (real Hypercorn, real HTTP).

A Ghost-shaped batch posted to the first Postgate goes out through the second one's
``messages.mime`` (its outbox delivers), and the second one's events come back into the first
one's ledger and events API; each recipient reaches the upstream exactly once.
"""

from __future__ import annotations

from collections import Counter

import pytest

from relay_helpers import (
    UPSTREAM_DOMAIN,
    UPSTREAM_KEY,
    cursor_saved,
    events,
    ghost_batch,
    ledger,
    outbox_files,
    post_batch,
    rewind_cursor,
    start_relay,
    start_upstream,
    wait_for,
)
from relay_proxy import RelayProxy

from postgate.domain import EventQuery, Term
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY

ADDRESSES = [f"reader{i}@example.org" for i in range(12)]


def batch_id_of(server, message_id: str) -> int:
    """The batch of a send call, from its first ``accepted`` event (storage key ``<batch>-<row>``)."""
    query = EventQuery(domain=TEST_DOMAIN, ascending=True, filter=Term("message-id", message_id.strip("<>")),
                       limit=1, live=True)
    found = server.run(server.gateway.storage.page_events(query))
    return int(found[0].payload["storage"]["key"].split("-")[0])


def test_ghost_batch_reaches_the_upstream_once_and_its_events_come_back(live_server, upstream_key):
    upstream = start_upstream(live_server)
    relay = start_relay(live_server, upstream.url)
    message_id = post_batch(relay, ghost_batch(ADDRESSES))

    wait_for(lambda: len(outbox_files(upstream)) == len(ADDRESSES), "the upstream outbox")
    delivered = wait_for(lambda: len(found := events(relay, TEST_DOMAIN, TEST_KEY, event="delivered"))
                         == len(ADDRESSES) and found, "delivered events in the relaying Postgate")

    # One history: Ghost's message id, its email-id variable and tag, each recipient once.
    assert Counter(e["recipient"] for e in delivered) == Counter({a: 1 for a in ADDRESSES})
    assert {e["message"]["headers"]["message-id"] for e in delivered} == {message_id.strip("<>")}
    assert all(e["user-variables"].get("email-id") == "ghost-email-1" for e in delivered)
    assert all(e["tags"] == ["ghost-email"] for e in delivered)
    assert "postgate-rcpt" not in delivered[0]["user-variables"]

    # Upstream: exactly one accepted message per recipient, personalised, carrying the ledger ids.
    accepted = events(upstream, UPSTREAM_DOMAIN, UPSTREAM_KEY, event="accepted")
    assert Counter(e["recipient"] for e in accepted) == Counter({a: 1 for a in ADDRESSES})
    batch_id = batch_id_of(relay, message_id)
    rows = {row.id: row for row in ledger(relay, batch_id)}
    for event in accepted:
        row = rows[int(event["user-variables"]["postgate-rcpt"])]
        assert row.address == event["recipient"]
        assert row.provider_id == event["message"]["headers"]["message-id"]
    bodies = [path.read_bytes() for path in outbox_files(upstream)]
    assert sum(b"Hi Reader 3" in body for body in bodies) == 1

    # Reading the upstream again (a restart from an older cursor) stores nothing twice.
    relay.run(rewind_cursor(relay))
    wait_for(lambda: relay.run(cursor_saved(relay)), "the event source to read again")
    assert len(events(relay, TEST_DOMAIN, TEST_KEY, event="delivered")) == len(ADDRESSES)


def test_upstream_400_is_a_permanent_failure(live_server, upstream_key):
    upstream = start_upstream(live_server)
    with RelayProxy(upstream.url) as proxy:
        proxy.faults.append(("status", 400))
        relay = start_relay(live_server, proxy.url, concurrency=1, max_connections=1)
        post_batch(relay, ghost_batch(ADDRESSES[:3]))
        failed = wait_for(lambda: events(relay, TEST_DOMAIN, TEST_KEY, event="failed"), "the failed event")
        wait_for(lambda: len(outbox_files(upstream)) == 2, "the other two messages")
    assert len(failed) == 1
    assert failed[0]["severity"] == "permanent"
    assert "400" in failed[0]["delivery-status"]["message"]


def test_upstream_401_pauses_and_nothing_is_lost(live_server, monkeypatch):
    from relay_helpers import KEY_ENV

    monkeypatch.setenv(KEY_ENV, "key-wrong")
    upstream = start_upstream(live_server)
    relay = start_relay(live_server, upstream.url, gateway={"retry_delays": [600]}, paused_retry_seconds=600)
    message_id = post_batch(relay, ghost_batch(ADDRESSES[:3]))
    wait_for(lambda: relay.gateway.delivery.paused_until > 0, "the pause")
    batch_id = batch_id_of(relay, message_id)
    def waiting_rows():
        rows = ledger(relay, batch_id)
        return rows if rows and all(row.status.value == "retry" for row in rows) else None

    rows = wait_for(waiting_rows, "the rows to wait for a retry")
    assert all(not r.provider_id for r in rows)
    assert outbox_files(upstream) == []
    assert events(relay, TEST_DOMAIN, TEST_KEY, event="failed") == []  # retried silently, no false failure
    assert relay.gateway.delivery.pause_reason.startswith("the upstream Mailgun answered 401")
    with pytest.raises(RuntimeError, match="paused"):
        relay.run(relay.gateway.delivery.check())


def test_upstream_500_after_accepting_settles_as_sent_without_a_second_send(live_server, upstream_key):
    upstream = start_upstream(live_server)
    with RelayProxy(upstream.url) as proxy:
        proxy.faults.append(("after", 500))  # the upstream took it; the answer was lost
        proxy.faults.append(("status", 503))  # the upstream did not take it; in doubt, then unsent
        relay = start_relay(live_server, proxy.url, concurrency=1, max_connections=1)
        post_batch(relay, ghost_batch(ADDRESSES[:4]))
        wait_for(lambda: len(outbox_files(upstream)) == 4, "all four messages upstream")
        delivered = wait_for(lambda: len(found := events(relay, TEST_DOMAIN, TEST_KEY, event="delivered")) == 4
                             and found, "four delivered events")
    accepted = events(upstream, UPSTREAM_DOMAIN, UPSTREAM_KEY, event="accepted")
    assert Counter(e["recipient"] for e in accepted) == Counter({a: 1 for a in ADDRESSES[:4]})
    assert Counter(e["recipient"] for e in delivered) == Counter({a: 1 for a in ADDRESSES[:4]})
    assert proxy.sends == 5  # four messages, one of them sent twice because its first try never arrived
