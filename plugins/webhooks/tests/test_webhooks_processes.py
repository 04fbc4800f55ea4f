"""Which processes deliver: the real ``postgate`` CLI on a data folder with a queued delivery.

``postgate status --watch`` starts a gateway but runs no background work, so it must POST nothing;
``postgate worker`` runs background work and delivers (``deliver = "all"``, the default, and
``"workers"``), and a serving process delivers only under ``"all"``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from postgate import Gateway
from postgate.testing.fixtures import TEST_DOMAIN, LiveServer, make_settings
from postgate_webhooks import plugin as webhooks_plugin
from postgate_webhooks.models import Delivery
from postgate_webhooks.state import webhooks_for
from webhook_helpers import ALLOW_PRIVATE, Receiver, send, subscribe, webhook_server


def queue_one_delivery(data_dir, receiver: Receiver) -> None:
    settings = make_settings(data_dir, gateway={"workers": 1},
                             plugin_settings={"webhooks": {**ALLOW_PRIVATE, "deliver": False}})
    server = LiveServer(Gateway(settings, plugins=[webhooks_plugin], load_entrypoints=False)).start()
    try:
        subscribe(server, "delivered", receiver.url("/hook"))
        send(server, "ann@example.com")

        async def pending() -> int:
            with server.gateway.storage.orm():
                return await Delivery.filter(status="pending").count()

        receiver.wait(lambda: server.run(pending()) == 1)
    finally:
        server.stop()


def postgate(tmp_path, data_dir, deliver: object, *args: str) -> subprocess.Popen:
    config = tmp_path / "postgate.toml"
    value = f'"{deliver}"' if isinstance(deliver, str) else str(deliver).lower()
    config.write_text(f"[plugins.webhooks]\nallow_private_targets = true\ndeliver = {value}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(POSTGATE_LOAD_PLUGINS='["webhooks"]', POSTGATE_DATA_DIR=str(data_dir),
               POSTGATE_DOMAIN=TEST_DOMAIN, POSTGATE_API_KEY="key-test", POSTGATE_CONFIG=str(config))
    return subprocess.Popen([sys.executable, "-m", "postgate", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def interrupt(process: subprocess.Popen) -> str:
    """Stop ``process`` as Ctrl-C would; return its stderr."""
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    return err


def test_only_processes_running_background_work_deliver(tmp_path) -> None:
    receiver = Receiver()
    data_dir = tmp_path / "data"
    try:
        queue_one_delivery(data_dir, receiver)

        watching = postgate(tmp_path, data_dir, True, "status", "--watch", "--json", "-n", "0.2")
        assert watching.stdout is not None
        snapshots = [json.loads(watching.stdout.readline()) for _ in range(10)]  # 2 s of a started gateway
        err = interrupt(watching)
        assert "Traceback" not in err, err
        assert all(isinstance(snapshot, dict) for snapshot in snapshots)
        assert receiver.posts == []

        worker = postgate(tmp_path, data_dir, "workers", "worker")
        try:
            receiver.wait(lambda: len(receiver.to("/hook")) == 1)
        finally:
            err = interrupt(worker)
        assert "Traceback" not in err, err
        assert receiver.posts[0].body["event-data"]["recipient"] == "ann@example.com"
    finally:
        receiver.close()


def test_a_serving_process_does_not_deliver_when_only_workers_should(live_server) -> None:
    serving = webhook_server(live_server, deliver="workers")
    everywhere = webhook_server(live_server, deliver="all")
    assert serving.gateway.runs_background and webhooks_for(serving.gateway).dispatcher is None
    assert webhooks_for(everywhere.gateway).dispatcher is not None
