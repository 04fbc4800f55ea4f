"""Routes with a real second provider: half of a newsletter through the Mailgun relay (a second
Postgate acting as Mailgun), half into the local outbox, one history in the first Postgate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def status_config(path: Path, server, relay_settings: dict, routes: dict) -> Path:
    """A ``postgate.toml`` for ``postgate status`` reading ``server``'s storage with its routes."""
    text = "\n".join([
        f"data_dir = {json.dumps(str(server.gateway.settings.data_dir))}",
        f"domain = {json.dumps(TEST_DOMAIN)}",
        f"api_key = {json.dumps(TEST_KEY)}",
        'load_plugins = ["mailgun_relay"]',
        "[backends]",
        'delivery = "routes"',
        "[plugins.mailgun_relay]",
        *(f"{key} = {json.dumps(value)}" for key, value in relay_settings.items() if key != "domains"),
        f"domains = {{ {json.dumps(TEST_DOMAIN)} = {json.dumps(UPSTREAM_DOMAIN)} }}",
        "[plugins.routes]",
        f"default = {json.dumps(routes['default'])}",
        'rules = [{ match = { tag = "ghost-email" }, split = { mailgun = 50, outbox = 50 } }]',
    ])
    path.write_text(text + "\n")
    return path


def test_status_shows_each_route_with_its_rate_in_use(live_server, upstream_key, tmp_path):
    upstream = start_upstream(live_server)
    relay_settings = {"base_url": upstream.url, "api_key_env": KEY_ENV, "domains": {TEST_DOMAIN: UPSTREAM_DOMAIN},
                      "events_poll_seconds": 0.2, "max_send_rate": 4}
    routes = {"default": "outbox", "rules": [{"match": {"tag": "ghost-email"}, "split": SPLIT}]}
    local = live_server(plugins=[relay_plugin], backends={"delivery": "routes", "event_sources": ["mailgun_relay"]},
                        plugin_settings={"mailgun_relay": relay_settings, "routes": routes})
    post_batch(local, ghost_batch(ADDRESSES))

    def relay_in_use():
        snapshot = local.run(local.gateway.operations_snapshot())
        route = {r.name: r for r in snapshot.routes}["mailgun"]
        return route.window_sends and route

    # While the relay sends at its own 4/s, its bucket counts sends; the outbox has no rate.
    relay = wait_for(relay_in_use, "sends counted in the relay route's bucket")
    assert (relay.max_rate, relay.window_budget, relay.window_seconds) == (4.0, 4, 1.0)
    assert 1 <= relay.window_sends <= 4 + 4  # a window's budget, plus a grant in flight into the next

    # (the key under another name: every POSTGATE_ variable is a setting to the command)
    config = status_config(tmp_path / "status.toml", local, {**relay_settings, "api_key_env": "RELAY_KEY"}, routes)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}, "RELAY_KEY": UPSTREAM_KEY}
    done = subprocess.run([sys.executable, "-m", "postgate", "status", "--json", "--config", str(config)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    shown = {r["name"]: r for r in json.loads(done.stdout)["routes"]}
    assert shown["outbox"]["takes"] == ["default", "rule 1 (tag ghost-email): 50%"]
    assert (shown["outbox"]["max_rate"], shown["outbox"]["window_sends"], shown["outbox"]["quota"]) == (None, None, None)
    assert shown["mailgun"]["takes"] == ["rule 1 (tag ghost-email): 50%"]
    assert (shown["mailgun"]["max_rate"], shown["mailgun"]["window_budget"]) == (4.0, 4)
    assert isinstance(shown["mailgun"]["window_sends"], int)
    assert shown["mailgun"]["quota"] == {"max_24h": None, "sent_24h": None, "max_rate": 4.0, "source": "max_rate"}

    text = subprocess.run([sys.executable, "-m", "postgate", "status", "--config", str(config)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert text.returncode == 0, text.stderr
    assert "routes:    2 deliveries, each with its own rate and quota" in text.stdout
    assert "    mailgun: rule 1 (tag ghost-email): 50%\n      rate 4/s, " in text.stdout
    assert "    outbox: default; rule 1 (tag ghost-email): 50%\n      no rate limit of its own" in text.stdout

    wait_for(lambda: len(events(local, TEST_DOMAIN, TEST_KEY, event="delivered")) == len(ADDRESSES),
             "every recipient delivered", timeout=60)
