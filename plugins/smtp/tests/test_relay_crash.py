"""Crash safety of the smtp delivery with real processes (``postgate serve`` and ``postgate
worker``, the crash harness of tests/e2e) and an aiosmtpd relay: a worker that exits right after
the relay's 250, before the ledger write, never has a recipient sent twice."""

from __future__ import annotations

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "e2e"))

from crash_harness import Stack  # noqa: E402
from relay_sink import Relay  # noqa: E402

CONNECTIONS = 4
MARK_AHEAD = 1


def test_worker_exiting_between_the_relays_250_and_the_ledger_write(tmp_path):
    with Relay(None, tls="none", auth=False) as relay:
        smtp = {"relay_host": "127.0.0.1", "relay_port": relay.port, "relay_tls": "none",
                "relay_connections": CONNECTIONS, "relay_mark_ahead": MARK_AHEAD}
        stack = Stack(tmp_path, gateway={"chunk_size": 50}, load_plugins=["smtp"], backends={"delivery": "smtp"},
                      plugins={"smtp": smtp})
        try:
            stack.migrate()
            stack.start_api()
            expected = [f"x-{i}@example.com" for i in range(300)]
            assert stack.post(expected, "email-x") == 200
            exits = (5, 40, 90)
            for trial, after in enumerate(exits):
                worker = stack.start_worker(f"worker{trial}", wait=False, PGFAULT_EXIT_AFTER_RESULTS=str(after))
                worker.popen.wait(90)
                assert worker.popen.returncode == 70, worker.output()[-2000:]
                assert "exiting right after a send result" in worker.output()
            stack.start_worker("rescuer")
            rows = stack.wait_terminal(len(expected), timeout=120)
        finally:
            stack.close()
        counts = collections.Counter(copy.rcpt_to[0] for copy in relay.received)
    assert not {address: n for address, n in counts.items() if n > 1}, "a recipient got the message twice"
    status = {address: (state, error) for _, address, state, _, error in rows}
    held = {address for address, (state, error) in status.items() if state == "sent" and "in doubt" in (error or "")}
    # Each exit leaves in doubt the answers received but not yet written (the relay has those
    # messages) and the messages the lanes had marked without sending them yet; held rows are
    # never sent again.
    assert held
    never_sent = set(expected) - set(counts)
    assert never_sent <= held  # only held rows can be missing at the relay
    assert len(never_sent) <= len(exits) * CONNECTIONS * (1 + MARK_AHEAD)
    assert all(status[address][0] == "delivered" for address in set(expected) - held)
