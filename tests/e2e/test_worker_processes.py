"""``postgate serve --worker-processes 2``: the server starts two ``postgate worker`` children that
share the batches' jobs, starts one again after it is killed, and stops both on SIGTERM.

Real processes (``crash_harness.Stack``): SQLite, the local queue, the outbox. What happened is read
from the outside: the process table, the ledger (whose lease owners name the sending process), the
outbox files.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from crash_harness import Stack

RECIPIENTS = 3000
BATCH = 1000
EXIT_BOUND = 60


def children_of(pid: int) -> set[int]:
    """The pids of ``pid``'s ``postgate worker`` children (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"worker" in command:
            found.add(int(entry.name))
    return found


def sending_pids(stack: Stack) -> set[int]:
    """The processes holding claimed rows now (a lease owner is ``name@host:pid:…``)."""
    owners = stack.query("SELECT DISTINCT lease_owner FROM recipients WHERE status = 'sending'")
    return {int(owner.split("@", 1)[1].split(":")[1]) for (owner,) in owners if owner}


@pytest.fixture
def stack(tmp_path):
    made = Stack(tmp_path, gateway={"workers": 1, "worker_processes": 2, "chunk_size": 20, "job_size": 100,
                                    "jobs_per_worker": 2})
    yield made
    made.close()


def test_serve_supervises_worker_processes_that_share_the_work_and_send_each_recipient_once(stack):
    stack.migrate()
    serve = stack.spawn("serve", ["serve"])
    stack.wait_for(lambda: stack.healthy() or not serve.alive(), timeout=120, what="serve to answer")
    assert serve.alive(), serve.output()[-3000:]
    children = stack.wait_for(lambda: len(children_of(serve.popen.pid)) == 2 and children_of(serve.popen.pid),
                              timeout=60, what="two worker processes")
    assert "started 2 worker process(es)" in serve.output()

    expected = [f"p{i}@example.com" for i in range(RECIPIENTS)]
    for start in range(0, RECIPIENTS, BATCH):
        assert stack.post(expected[start:start + BATCH], f"email-proc-{start}") == 200
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while seen != children and time.monotonic() < deadline and len(stack.outbox_sends()) < RECIPIENTS // 2:
        seen |= sending_pids(stack)
        time.sleep(0.01)
    assert seen == children, f"rows claimed by {seen}; worker processes {children}:\n{serve.output()[-3000:]}"

    killed = sorted(children)[0]
    os.kill(killed, signal.SIGKILL)
    stack.wait_for(lambda: "starting it again" in serve.output(), timeout=30, what="the supervisor to notice")
    restarted = stack.wait_for(lambda: len(children_of(serve.popen.pid) - {killed}) == 2
                               and children_of(serve.popen.pid), timeout=60, what="the killed worker to restart")
    assert killed not in restarted

    rows = stack.wait_terminal(RECIPIENTS, timeout=240)
    assert {status for _, _, status, _, _ in rows} == {"delivered"}
    sent = stack.outbox_sends()
    twice = {address: n for address, n in sent.items() if n > 1}
    assert not twice, f"sent more than once: {dict(list(twice.items())[:10])}"
    assert sorted(sent) == sorted(expected)

    os.kill(serve.popen.pid, signal.SIGTERM)
    try:
        code = serve.popen.wait(EXIT_BOUND)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve still running {EXIT_BOUND} s after SIGTERM:\n{serve.output()[-3000:]}")
    assert code == 0, serve.output()[-3000:]
    assert all(not Path(f"/proc/{pid}").exists() for pid in restarted), "a worker process outlived serve"
    assert "Traceback" not in serve.output(), serve.output()[-3000:]
    statuses = collections.Counter(status for _, _, status, _, _ in stack.ledger())
    print(f"\nFIGURES worker-processes: recipients={RECIPIENTS}, processes=2, restarted=1, "
          f"twice=0, statuses={dict(statuses)}")


def test_a_worker_process_stops_when_its_serve_is_killed(stack):
    """SIGKILL to serve (no shutdown code runs): its worker processes notice and stop by themselves."""
    stack.migrate()
    serve = stack.spawn("serve", ["serve"])
    children = stack.wait_for(lambda: len(children_of(serve.popen.pid)) == 2 and children_of(serve.popen.pid),
                              timeout=120, what="two worker processes")
    stack.wait_for(lambda: serve.output().count("worker running") == 2, timeout=60, what="the workers to run")
    serve.kill()
    stack.wait_for(lambda: all(not Path(f"/proc/{pid}").exists() or b"Z" in _state(pid) for pid in children),
                   timeout=60, what="the orphaned worker processes to stop")
    assert serve.output().count("is gone; stopping") == 2, serve.output()[-3000:]


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return b"X"
