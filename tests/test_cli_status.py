"""`postgate status` in another process reads the shared storage: a batch in flight, its progress."""

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time

from postgate import Gateway, Message, RecipientStatus, RecipientUpdate
from postgate.cli import CLEAR_SCREEN
from postgate.testing.fixtures import make_settings

TOTAL = 40


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(extra)
    return env


def status(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "postgate", "status", *args], cwd=tmp_path, env=clean_env(),
                          capture_output=True, text=True, timeout=60)


async def batch_in_flight(tmp_path) -> int:
    """A 40-recipient newsletter in ``tmp_path/data``: 10 delivered, 2 failed, 5 claimed, the rest queued."""
    gateway = Gateway(make_settings(tmp_path / "data"), load_entrypoints=False)
    async with gateway:
        to = [f"member{i}@example.org" for i in range(TOTAL)]
        await gateway.accept(Message(domain="mg.example.com", sender="blog@mg.example.com", to=to, subject="s",
                                     text="t", variables={"email-id": "ghost-email-7"}, tags=["newsletter"],
                                     recipient_variables={}))
        [batch] = (await gateway.operations_snapshot()).batches
        rows = await gateway.storage.claim_recipients(batch.batch_id, "elsewhere", 600, 17, now=time.time())
        await gateway.storage.update_recipients(
            [RecipientUpdate(r.id, RecipientStatus.DELIVERED, attempts=1) for r in rows[:10]]
            + [RecipientUpdate(r.id, RecipientStatus.FAILED, error="550") for r in rows[10:12]])
        return batch.batch_id


async def test_status_json_and_text_show_the_batch_in_flight(tmp_path):
    batch_id = await batch_in_flight(tmp_path)

    done = status(tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    snapshot = json.loads(done.stdout)
    [batch] = snapshot["batches"]
    assert (batch["batch_id"], batch["email_id"], batch["tags"]) == (batch_id, "ghost-email-7", ["newsletter"])
    assert batch["counts"] == {"delivered": 10, "failed": 2, "sending": 5, "queued": TOTAL - 17}
    assert (batch["total"], batch["done"], batch["in_doubt"]) == (TOTAL, 12, 0)
    assert batch["eta_seconds"] is None or batch["eta_seconds"] >= 0
    assert (snapshot["queue_depth"], snapshot["in_doubt"], snapshot["dead_jobs"]) == (1, 0, 0)
    assert snapshot["oldest_job_age"] >= 0
    assert snapshot["quota"] is None  # the outbox has no quota

    text = status(tmp_path)
    assert text.returncode == 0, text.stderr
    assert "queue:     1 job(s) waiting, oldest queued" in text.stdout
    assert "dead jobs: 0" in text.stdout
    assert "quota:     not reported by the delivery backend" in text.stdout
    assert "Newsletters in flight: 1" in text.stdout
    [line] = [line for line in text.stdout.splitlines() if "ghost-email-7" in line]
    assert line.strip().startswith("[" + "#" * 7 + "-" * 17 + "]")  # 12 of 40 on 24 characters
    assert f"12/{TOTAL}" in line and " 30%" in line
    assert "email-id ghost-email-7 [newsletter] on mg.example.com" in line
    assert "(failed 2, sending 5, queued 23)" in line


async def test_status_watch_refreshes_on_a_terminal_until_interrupted(tmp_path):
    await batch_in_flight(tmp_path)
    terminal, child_end = pty.openpty()  # a terminal: the screen is cleared before each refresh
    proc = subprocess.Popen([sys.executable, "-m", "postgate", "status", "--watch", "--interval", "0.2"],
                            cwd=tmp_path, env=clean_env(PYTHONUNBUFFERED="1"), stdout=child_end,
                            stderr=subprocess.PIPE, text=True)
    os.close(child_end)
    output: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            output.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while b"".join(output).count(b"Ctrl-C to stop") < 3:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, b"".join(output)
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=10)
        os.close(terminal)
    screen = b"".join(output).decode()
    assert proc.returncode == 0, proc.stderr.read()
    frames = screen.split(CLEAR_SCREEN)
    assert frames[0] == "" and len(frames) >= 4
    for frame in frames[1:-1]:  # the last one may have been cut by the interrupt
        assert frame.startswith("Postgate status at ")
        assert frame.count("ghost-email-7") == 1


def test_status_interval_must_be_sane(tmp_path):
    done = status(tmp_path, "--watch", "--interval", "0")
    assert done.returncode == 2
    assert "--interval" in done.stderr
