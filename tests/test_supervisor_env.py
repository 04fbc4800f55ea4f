"""``WorkerProcesses(env=…)``: what ``serve`` passes down (its ``--host``/``--port``) reaches every
worker process, on top of the server's own environment."""

import asyncio
import json
import sys
import time

from postgate.supervisor import WorkerProcesses


async def test_worker_processes_get_the_extra_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTGATE_GATEWAY__PORT", "3000")  # the server's own value, overridden
    out = tmp_path / "env.json"
    children = WorkerProcesses(1, 1, env={"POSTGATE_GATEWAY__PORT": "3111", "POSTGATE_GATEWAY__HOST": "127.0.0.2"})
    keys = ["POSTGATE_GATEWAY__PORT", "POSTGATE_GATEWAY__HOST", "POSTGATE_GATEWAY__MIGRATE_ON_START"]
    children.command = [sys.executable, "-c",
                        f"import json, os, time; open({str(out)!r}, 'w').write(json.dumps("
                        f"{{k: os.environ.get(k) for k in {keys!r}}})); time.sleep(60)"]
    await children.start()
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_text()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await children.stop()
    assert json.loads(out.read_text()) == {"POSTGATE_GATEWAY__PORT": "3111", "POSTGATE_GATEWAY__HOST": "127.0.0.2",
                                           "POSTGATE_GATEWAY__MIGRATE_ON_START": "false"}
