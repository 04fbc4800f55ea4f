"""Events read back from the upstream Mailgun fire the relaying Postgate's webhooks, as events of
mail sent through SES or the outbox do: a Postgate relaying through a second one acting as
Mailgun, with the webhooks plugin and a receiver on loopback that verifies signatures with the
Python ``mailgun`` SDK. A page read twice posts nothing twice."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import postgate_webhooks.plugin as webhooks_plugin
from relay_helpers import (cursor_saved, events, ghost_batch, outbox_files, post_batch, rewind_cursor, start_relay,
                           start_upstream, wait_for)

from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "webhooks" / "tests"))
from webhook_helpers import ALLOW_PRIVATE, Receiver, signing_key, subscribe  # noqa: E402

ADDRESSES = [f"reader{i}@example.org" for i in range(5)]


async def _queued(server) -> int:
    from postgate_webhooks.models import Delivery

    with server.gateway.storage.orm():
        return await Delivery.all().count()


def test_upstream_events_fire_the_relays_webhooks_once(live_server, upstream_key) -> None:
    receiver = Receiver()
    try:
        upstream = start_upstream(live_server)
        relay = start_relay(live_server, upstream.url, plugins=(webhooks_plugin,),
                            plugin_settings={"webhooks": ALLOW_PRIVATE})
        receiver.signing_key = signing_key(relay)
        subscribe(relay, "delivered", receiver.url("/delivered"))
        message_id = post_batch(relay, ghost_batch(ADDRESSES))

        wait_for(lambda: len(outbox_files(upstream)) == len(ADDRESSES), "the upstream outbox")
        receiver.wait(lambda: len(receiver.to("/delivered")) == len(ADDRESSES))
        assert receiver.verified and all(receiver.verified)
        posted = [p.body["event-data"] for p in receiver.to("/delivered")]
        assert Counter(e["recipient"] for e in posted) == Counter({a: 1 for a in ADDRESSES})
        # The POSTs carry the relaying Postgate's events (Ghost's message id and variables), not
        # the upstream's: the very events its GET /events returns.
        local = {e["id"]: e for e in events(relay, TEST_DOMAIN, TEST_KEY, event="delivered")}
        for event in posted:
            assert event == local[event["id"]]
            assert event["message"]["headers"]["message-id"] == message_id.strip("<>")
            assert event["user-variables"].get("email-id") == "ghost-email-1"
            assert "postgate-rcpt" not in event["user-variables"]

        # Reading the upstream again from the start stores no event twice, so queues no POST twice.
        relay.run(rewind_cursor(relay))
        wait_for(lambda: relay.run(cursor_saved(relay)), "the event source to read again")
        assert relay.run(_queued(relay)) == len(ADDRESSES)
        assert len(receiver.to("/delivered")) == len(ADDRESSES)
    finally:
        receiver.close()
