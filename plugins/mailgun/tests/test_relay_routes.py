"""Routes with a real second provider: half of a newsletter through the Mailgun relay (a second
Postgate acting as Mailgun), half into the local outbox, one history in the first Postgate."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from relay_helpers import KEY_ENV, UPSTREAM_DOMAIN, UPSTREAM_KEY, events, ghost_batch, outbox_files, post_batch
from relay_helpers import start_upstream, wait_for

import postgate_mailgun.plugin as relay_plugin
from postgate.builtin.routes import pick, share_point
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY

ADDRESSES = [f"member{i}@example.org" for i in range(40)]
SPLIT = {"mailgun": 50, "outbox": 50}


def test_a_newsletter_split_between_the_relay_and_the_outbox(live_server, upstream_key):
    upstream = start_upstream(live_server)
    relay_settings = {"base_url": upstream.url, "api_key_env": KEY_ENV, "domains": {TEST_DOMAIN: UPSTREAM_DOMAIN},
                      "events_poll_seconds": 0.2, "max_send_rate": 1000}
    local = live_server(plugins=[relay_plugin], backends={"delivery": "routes", "event_sources": ["mailgun_relay"]},
                        plugin_settings={"mailgun_relay": relay_settings, "routes": {
                            "default": "outbox", "rules": [{"match": {"tag": "ghost-email"}, "split": SPLIT}]}})
    post_batch(local, ghost_batch(ADDRESSES))
    delivered = wait_for(lambda: len(found := events(local, TEST_DOMAIN, TEST_KEY, event="delivered"))
                         == len(ADDRESSES) and found, "every recipient delivered, by either route")
    assert Counter(e["recipient"] for e in delivered) == Counter({a: 1 for a in ADDRESSES})

    rows = local.run(local.gateway.storage.list_recipients(1, 0, 100))
    batch_id = rows[0].batch_id
    expected = {row.address for row in rows if pick(SPLIT, share_point(batch_id, row.address)) == "mailgun"}
    accepted = events(upstream, UPSTREAM_DOMAIN, UPSTREAM_KEY, event="accepted")
    assert Counter(e["recipient"] for e in accepted) == Counter({a: 1 for a in expected})
    assert len(outbox_files(upstream)) == len(expected)
    local_files = list((Path(local.gateway.settings.data_dir) / "outbox" / TEST_DOMAIN).glob("*.eml"))
    assert len(local_files) == len(ADDRESSES) - len(expected)
    assert 0 < len(expected) < len(ADDRESSES)
