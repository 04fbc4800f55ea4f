"""Worker heartbeats: the core's ``worker_heartbeat`` hook fills ``dashboard_workers`` from the
worker loops of a real gateway; ``postgate dashboard status`` (another process) reads them; a
clean stop removes the rows; names from other processes cannot steer the terminal."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import postgate_dashboard
from postgate import hookimpl
from postgate.testing.fixtures import TEST_DOMAIN
from postgate_dashboard import heartbeats
from postgate_dashboard.rollups.models import WorkerBeat
from postgate_dashboard.web.commands import status_text


class Heard:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    @hookimpl
    def worker_heartbeat(self, gateway, worker, started_at, stopping):
        self.calls.append((worker, stopping))


def status(data_dir) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(POSTGATE_LOAD_PLUGINS='["dashboard"]', POSTGATE_DATA_DIR=str(data_dir), POSTGATE_DOMAIN=TEST_DOMAIN)
    return subprocess.run([sys.executable, "-m", "postgate", "dashboard", "status"], cwd=data_dir,
                          env=env, capture_output=True, text=True, timeout=120)


async def owners(gateway) -> list[str]:
    with gateway.storage.orm():
        return sorted(await WorkerBeat.all().values_list("owner", flat=True))


async def test_worker_loops_heartbeat_into_the_table_and_the_status_command(gateway_factory) -> None:
    heard = Heard()
    gateway = gateway_factory(plugins=[postgate_dashboard, heard])
    await gateway.start()
    gateway.start_background(workers=2)
    deadline = time.monotonic() + 30
    while len(await owners(gateway)) != 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    rows = await owners(gateway)
    assert [row.partition("@")[0] for row in rows] == ["worker-0", "worker-1"]
    assert {worker for worker, _ in heard.calls} == set(rows)

    done = await asyncio.to_thread(status, gateway.settings.data_dir)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "workers alive:    2"
    assert sum(line.startswith("  alive  worker-") for line in lines) == 2
    assert any(line.startswith("event-ingest lag: \u2014 (nothing sending") for line in lines)

    await gateway.stop_background()
    await heartbeats.close(gateway)
    assert sorted(worker for worker, stopping in heard.calls if stopping) == rows
    assert await owners(gateway) == []  # stopped cleanly: no longer listed


def test_status_text_escapes_control_characters() -> None:
    page = {"workers_alive": "0", "ingest_lag": "\u2014", "ingest_note": "nothing sending", "alerts": [],
            "workers": [{"alive": False, "name": "w\x1b[2J", "host": "h\r\nfake", "pid": 1, "seen": "5 min 0 s",
                         "up": "1 h 0 min"}]}
    text = status_text(page)
    assert "\x1b" not in text and "\r" not in text
    assert "w\\x1b[2J on h\\r\\nfake pid 1" in text and "SILENT" in text
