"""The per-domain lock of webhook changes across processes: two ``postgate serve`` processes (each
its own Hypercorn on a loopback port) on one MariaDB database receive concurrent PUT and POST
changes of the same domain's webhooks, in turn, for a fixed number of rounds. Each change applies
whole or not at all: no webhook passes 3 URLs, no change is lost, no PUT's URLs are mixed with
another's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, free_port
from postgate.testing.mariadb import create_database, drop_database
from webhook_helpers import check_concurrent_changes

#: Racing rounds (each: 12 PUTs, 8 POSTs, 8 v4 POSTs, spread over both processes).
ROUNDS = 4
START_TIMEOUT = 120


@dataclass
class Served:
    """A ``postgate serve`` process; ``url`` is what the webhook helpers call."""

    name: str
    url: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(30)


def write_config(folder: Path, mysql_url: str) -> Path:
    """One ``postgate.toml`` for both processes: MariaDB storage, the webhooks plugin, no
    background work (the API alone), no migration on start (``postgate migrate`` ran once)."""
    path = folder / "postgate.toml"
    path.write_text("\n".join([
        'load_plugins = ["mysql", "webhooks"]', f"data_dir = {json.dumps(str(folder / 'data'))}", "",
        f"[domains.{json.dumps(TEST_DOMAIN)}]", f"api_key = {json.dumps(TEST_KEY)}", "",
        "[gateway]", "workers = 0", "worker_processes = 0", "migrate_on_start = false", "",
        "[backends]", 'storage = "mysql"', "",
        "[plugins.mysql]", f"url = {json.dumps(mysql_url)}", "",
        "[plugins.webhooks]", "allow_private_targets = false", "deliver = false", ""]))
    return path


def postgate_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(POSTGATE_CONFIG=str(config), PYTHONUNBUFFERED="1")
    return env


def start_serving(folder: Path, config: Path, name: str) -> Served:
    port = free_port()
    log = folder / f"{name}.log"
    with log.open("ab") as handle:
        popen = subprocess.Popen([sys.executable, "-m", "postgate", "serve", "--host", "127.0.0.1", "--port",
                                  str(port), "--workers", "0", "--worker-processes", "0"], cwd=folder,
                                 env=postgate_env(config), stdout=handle, stderr=subprocess.STDOUT)
    return Served(name, f"http://127.0.0.1:{port}", popen, log)


def wait_healthy(served: Served) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and served.popen.poll() is None:
        try:
            if httpx.get(f"{served.url}/healthcheck", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{served.name} did not start:\n{served.output()[-3000:]}")


@pytest.fixture
def two_processes(tmp_path):
    """Two serving processes on one fresh MariaDB database; stopped, then the database dropped."""
    url = asyncio.run(create_database("postgate_webhooks_procs"))
    started: list[Served] = []
    try:
        config = write_config(tmp_path, url)
        done = subprocess.run([sys.executable, "-m", "postgate", "migrate"], cwd=tmp_path, env=postgate_env(config),
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        started = [start_serving(tmp_path, config, name) for name in ("api1", "api2")]
        for served in started:
            wait_healthy(served)
        yield started
    finally:
        for served in started:
            served.stop()
        asyncio.run(drop_database(url))


def test_two_processes_change_one_domains_webhooks_without_mixing_losing_or_passing_three(two_processes) -> None:
    first, second = two_processes
    assert first.popen.pid != second.popen.pid and first.url != second.url
    check_concurrent_changes([first, second], rounds=ROUNDS)
    for served in two_processes:
        assert served.popen.poll() is None, served.output()[-3000:]
        assert "Traceback" not in served.output(), served.output()[-3000:]
