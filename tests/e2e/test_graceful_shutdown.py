"""SIGTERM mid-send, to ``postgate serve`` and to ``postgate worker`` (what ``docker stop``,
``systemctl stop`` and a compose scale-down send): the process exits 0 within a bound, every
ledger row is either recorded as sent (with its event and its ``.eml``) or released back to
``queued``/``retry``, none is left ``sending``; a restarted process finishes the batches with each
recipient sent exactly once.

Reuses the crash tests' harness (``crash_harness.Stack``): real processes, SQLite, the local queue
and the outbox.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess

import pytest

from crash_harness import Proc, Stack

RECIPIENTS = 3000
BATCH = 1000
#: Longest wait for the exit after SIGTERM: a correctness bound (the worker stop waits up to 10 s
#: for chunks in hand), not a speed figure.
EXIT_BOUND = 60


@pytest.fixture
def stack(tmp_path):
    made = Stack(tmp_path, gateway={"workers": 1, "chunk_size": 20, "jobs_per_worker": 4})
    yield made
    made.close()


def start_serve(stack: Stack, name: str) -> Proc:
    proc = stack.spawn(name, ["serve"])
    stack.wait_for(lambda: stack.healthy() or not proc.alive(), timeout=120, what=f"{name} to answer")
    assert proc.alive(), proc.output()[-3000:]
    return proc


def start_sender(stack: Stack, kind: str, name: str) -> Proc:
    """The process that sends: ``postgate serve`` with its worker loop, or ``postgate worker``
    beside an API-only ``serve --workers 0`` (the compose shape)."""
    if kind == "serve":
        return start_serve(stack, name)
    if not stack.healthy():
        stack.start_api()
    return stack.start_worker(name)


def delivered_events(stack: Stack) -> collections.Counter[str]:
    return collections.Counter(address for (address,) in stack.query(
        "SELECT recipient FROM events WHERE event = 'delivered'"))


@pytest.mark.parametrize("kind", ["serve", "worker"])
def test_sigterm_mid_send_exits_zero_leaves_nothing_in_doubt_and_a_restart_sends_each_once(stack, kind):
    stack.migrate()
    serve = start_sender(stack, kind, f"{kind}1")
    expected = [f"t{i}@example.com" for i in range(RECIPIENTS)]
    for start in range(0, RECIPIENTS, BATCH):
        assert stack.post(expected[start:start + BATCH], f"email-term-{start}") == 200
    stack.wait_for(lambda: len(stack.outbox_sends()) >= 200, timeout=120, what="sending to start",
                   interval=0.02)

    os.kill(serve.popen.pid, signal.SIGTERM)
    try:
        code = serve.popen.wait(EXIT_BOUND)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{kind} still running {EXIT_BOUND} s after SIGTERM:\n{serve.output()[-3000:]}")
    assert code == 0, serve.output()[-3000:]
    assert "Traceback" not in serve.output(), serve.output()[-3000:]

    rows = stack.ledger()
    statuses = collections.Counter(status for _, _, status, _, _ in rows)
    assert len(rows) == RECIPIENTS
    assert statuses["sending"] == 0, f"rows left in doubt after SIGTERM: {statuses}"
    assert set(statuses) <= {"delivered", "queued", "retry"}, statuses
    assert statuses["queued"] + statuses["retry"] > 0, f"the batch finished before SIGTERM: {statuses}"
    # Each row recorded as delivered has its .eml and its event; no row left unrecorded has a file.
    sent = stack.outbox_sends()
    recorded = {address for _, address, status, _, _ in rows if status == "delivered"}
    assert set(sent) == recorded, (f"{len(set(sent) - recorded)} files without a record, "
                                   f"{len(recorded - set(sent))} records without a file")
    assert set(delivered_events(stack)) == recorded
    assert max(sent.values()) == 1

    start_sender(stack, kind, f"{kind}2")
    rows = stack.wait_terminal(RECIPIENTS, timeout=180)
    assert {status for _, _, status, _, _ in rows} == {"delivered"}
    sent = stack.outbox_sends()
    twice = {address: n for address, n in sent.items() if n > 1}
    assert not twice, f"sent more than once: {dict(list(twice.items())[:10])}"
    assert sorted(sent) == sorted(expected), f"never sent: {sorted(set(expected) - set(sent))[:10]}"
    assert sum(delivered_events(stack).values()) == RECIPIENTS
    assert len(list(stack.outbox.glob("*/*.eml"))) == RECIPIENTS
    print(f"\nFIGURES sigterm-{kind}: recipients={RECIPIENTS}, sent_before_sigterm={len(recorded)}, "
          f"released={statuses['queued'] + statuses['retry']}, in_doubt=0, twice=0")


def test_sigterm_while_sends_wait_for_the_rate_releases_them_at_once(tmp_path, aws):
    """SES (moto) at 5 messages a second, chunks of 100: most claimed rows are waiting for the rate
    when SIGTERM comes. They go back to the queue right away instead of being cut off after the
    stop timeout and left ``sending`` until their lease ends; a restart sends each one once."""
    from test_crash_safety import moto_sends, ses_stack

    stack, _ = ses_stack(tmp_path, aws, event_source=False, rate=5.0)
    try:
        stack.migrate()
        stack.start_api()
        worker = stack.start_worker("worker1")
        expected = [f"r{i}@example.com" for i in range(200)]
        assert stack.post(expected, "email-rate") == 200
        stack.wait_for(lambda: len(moto_sends(aws)) >= 10, timeout=60, what="sends to start")
        claimed = stack.in_doubt()[1]
        os.kill(worker.popen.pid, signal.SIGTERM)
        try:
            code = worker.popen.wait(EXIT_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker still running {EXIT_BOUND} s after SIGTERM:\n{worker.output()[-3000:]}")
        assert code == 0, worker.output()[-3000:]
        rows = stack.ledger()
        statuses = collections.Counter(status for _, _, status, _, _ in rows)
        assert statuses["sending"] == 0, f"rows left sending after SIGTERM: {statuses} ({claimed} were claimed)"
        sent = moto_sends(aws)
        assert {address for _, address, status, _, _ in rows if status == "sent"} == set(sent)
        assert "cancel" not in worker.output().lower(), worker.output()[-3000:]
        assert "claimed recipients not sent yet went back to the queue" in worker.output()

        stack.start_worker("worker2", POSTGATE_PLUGINS__SES__MAX_SEND_RATE="150")  # finish quickly
        rows = stack.wait_terminal(len(expected), timeout=180)
        assert {status for _, _, status, _, _ in rows} == {"sent"}
        sent = moto_sends(aws)
        assert sorted(sent) == sorted(expected) and max(sent.values()) == 1
        print(f"\nFIGURES sigterm-rate: claimed_at_sigterm={claimed}, released={statuses['queued']}, "
              f"in_doubt=0, twice=0")
    finally:
        stack.close()
