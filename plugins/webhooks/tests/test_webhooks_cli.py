"""``postgate webhooks signing-key`` and ``postgate webhooks log`` in a real subprocess, on the
data folder a live gateway used."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from postgate.testing.fixtures import TEST_DOMAIN
from postgate_webhooks.commands import duration_text
from webhook_helpers import Receiver, api, send, signing_key, subscribe, webhook_server


def run(tmp_path, data_dir, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(POSTGATE_LOAD_PLUGINS='["webhooks"]', POSTGATE_DATA_DIR=str(data_dir),
               POSTGATE_DOMAIN=TEST_DOMAIN, POSTGATE_API_KEY="key-test")
    return subprocess.run([sys.executable, "-m", "postgate", "webhooks", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_signing_key_and_log(live_server, tmp_path) -> None:
    receiver = Receiver()
    try:
        server = webhook_server(live_server)
        receiver.answers["/hook"] = [500]
        receiver.pauses["/hook"] = 0.05
        subscribe(server, "delivered", receiver.url("/hook"))
        key = signing_key(server)
        send(server, "ann@example.com")
        receiver.wait(lambda: len(receiver.to("/hook")) == 2)
        event_id = receiver.posts[0].body["event-data"]["id"]
        with api(server) as http:
            tested = http.put(f"/v3/domains/{TEST_DOMAIN}/webhooks/clicked/test", data={"url": receiver.url("/t")})
        assert tested.json() == {"code": 200, "message": "Test webhook sent"}
        server.stop()
    finally:
        receiver.close()
    data_dir = server.gateway.settings.data_dir

    shown = run(tmp_path, data_dir, "signing-key")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"{TEST_DOMAIN}\t{key}\n"

    log = run(tmp_path, data_dir, "log", "--json")
    assert log.returncode == 0, log.stderr
    sample, *rows = json.loads(log.stdout)
    assert (sample["outcome"], sample["status"], sample["webhook"], sample["test"], sample["delivery"]) == (
        "delivered", 200, "clicked", True, None)
    assert [(r["outcome"], r["status"], r["event_id"], r["test"]) for r in rows] == [
        ("delivered", 200, event_id, False), ("retry", 500, event_id, False)]
    assert all(r["duration_ms"] >= 50 for r in rows), rows  # the receiver's pause is in it
    failed = run(tmp_path, data_dir, "log", "--failed", "--domain", TEST_DOMAIN.upper())
    assert failed.returncode == 0, failed.stderr
    [line] = failed.stdout.splitlines()
    shown = duration_text(rows[1]["duration_ms"])
    assert shown.endswith((" ms", " s")) and shown[0].isdigit()
    assert (f"retry     500 {shown:>8} {TEST_DOMAIN} delivered {receiver.url('/hook')} event {event_id} (HTTP 500)"
            in line)

    newest = run(tmp_path, data_dir, "log", "--limit", "1")
    assert newest.returncode == 0, newest.stderr
    assert newest.stdout.rstrip("\n").endswith(f"clicked {receiver.url('/t')} event test-event [test]"), newest.stdout

    rotated = run(tmp_path, data_dir, "signing-key", "--rotate", "--domain", TEST_DOMAIN)
    assert rotated.returncode == 0, rotated.stderr
    new_key = rotated.stdout.split("\t")[1].strip()
    assert new_key != key and new_key.startswith("key-")
