"""Crash safety as tests: kill -9 at random points of the send path, a database restarted
mid-send, a full disk. Every test: 0 lost, 0 sent twice, every row terminal within a bound, and a
clear log line for the operator.

Processes are real and separate (``postgate serve --workers 0`` and ``postgate worker``, see
``crash_harness.py``): the embedded default (SQLite, local queue, outbox) and the SES path on moto
(moto stores every ``SendEmail``, so a second send of one recipient shows). Trials are few and
seeded (``CRASH_SEED`` repeats a run); each test prints its figures (``-s`` shows them).
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crash_harness import DOMAIN, PrivateMariadb, SendEventPump, Stack, kill_at_random, moto_raw

SEED = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(1 << 30))
SEND_THREADS = 8
#: Multiplies trials and kills (``CRASH_SCALE=5`` for a measurement run; the suite uses 1).
SCALE = max(1, int(os.environ.get("CRASH_SCALE") or 1))


@pytest.fixture
def rng() -> random.Random:
    print(f"\nCRASH_SEED={SEED}")
    return random.Random(SEED)


@pytest.fixture
def stacks():
    made: list[Stack] = []
    yield made
    for stack in made:
        stack.close()


def figures(name: str, **values) -> None:
    print(f"FIGURES {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))


def addresses(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i}@example.com" for i in range(count)]


def assert_once(counts: collections.Counter, expected: list[str]) -> None:
    twice = {a: n for a, n in counts.items() if n > 1}
    lost = sorted(set(expected) - set(counts))
    assert not twice, f"sent more than once: {dict(list(twice.items())[:10])}"
    assert not lost, f"never sent: {lost[:10]} ({len(lost)})"


# -- the embedded default ---------------------------------------------------------------------------


def test_api_killed_during_accept_then_reposted_sends_each_recipient_once(tmp_path, rng, stacks):
    stack = Stack(tmp_path)
    stacks.append(stack)
    stack.migrate()
    api = stack.start_api()
    stack.start_worker()
    trials, per_batch, threads = 3 * SCALE, 100, 4
    posts: dict[str, list[str]] = {}
    refused = cut = 0

    def keep_posting(trial: int, thread: int) -> list[tuple[str, int]]:
        """POST batches one after another until one gets no answer (the API died)."""
        out = []
        for n in range(40):
            key = f"email-{trial}-{thread}-{n}"
            posts[key] = addresses(f"a{trial}-{thread}-{n}", per_batch)
            status = stack.post(posts[key], key)
            out.append((key, status))
            if status != 200:
                return out
        return out

    for trial in range(trials):
        with ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(keep_posting, trial, t) for t in range(threads)]
            kill_at_random(api, 0.3, 1.0, rng)
            statuses = [item for future in futures for item in future.result()]
        cut += sum(1 for _, status in statuses if status == 0)
        refused += sum(1 for _, status in statuses if status not in (0, 200))
        api = stack.start_api()
        # Ghost posts a batch again when it got no 200; posting the stored ones again is harmless too.
        for key, status in statuses:
            if status != 200 or rng.random() < 0.2:
                assert stack.post(posts[key], key) == 200
    expected = [a for group in posts.values() for a in group]
    rows = stack.wait_terminal(len(expected), timeout=150)
    assert len(rows) == len(expected)
    assert_once(stack.outbox_sends(), expected)
    assert "was sent again" not in stack.logs("worker")
    assert refused == 0, "a request answered an error instead of storing or dying"
    assert cut >= trials, "no request was cut by the kill"
    figures("api-kill", trials=trials, recipients=len(expected), requests_cut=cut, lost=0, twice=0)


def test_worker_killed_during_send_settles_from_the_outbox_never_twice(tmp_path, rng, stacks):
    stack = Stack(tmp_path, gateway={"chunk_size": 50})
    stacks.append(stack)
    stack.migrate()
    stack.start_api()
    kills, doubts, marked = 4 * SCALE, [], []
    expected = addresses("w", 1000 * kills)
    for start in range(0, len(expected), 1000):
        assert stack.post(expected[start:start + 1000], f"email-w{start}") == 200

    def delivered() -> int:
        return stack.query("SELECT COUNT(*) FROM recipients WHERE status = 'delivered'")[0][0]

    # Each kill lands while the worker is sending (a slow start must not make it kill an idle
    # worker); kills go on past ``kills`` only until one has left rows marked in flight.
    for kill in range(3 * kills):
        if kill >= kills and any(marked) or delivered() == len(expected):
            break
        before, sent = stack.in_flight_ids(), delivered()
        worker = stack.start_worker(f"worker{kill}")
        stack.wait_for(lambda: delivered() > sent, timeout=60, what=f"worker{kill} sending")
        kill_at_random(worker, 0.0, 0.2, rng)
        marked.append(len(stack.in_flight_ids() - before))
        doubts.append(stack.in_doubt()[1])
    assert any(marked), f"no kill landed between a dispatch mark and its answer: {marked}"
    stack.start_worker("rescuer")
    rows = stack.wait_terminal(len(expected), timeout=150)
    assert {r[2] for r in rows} == {"delivered"}
    assert_once(stack.outbox_sends(), expected)
    assert "was sent again" not in stack.logs("")
    assert "were in doubt after a stopped worker" in stack.logs("rescuer") + stack.logs("worker")
    figures("outbox-worker-kill", kills=len(marked), recipients=len(expected), lost=0, twice=0,
            in_flight_at_kill=marked, claimed_at_kill=doubts)


def test_worker_exiting_between_the_answer_and_the_ledger_write(tmp_path, rng, stacks):
    stack = Stack(tmp_path, gateway={"chunk_size": 50})
    stacks.append(stack)
    stack.migrate()
    stack.start_api()
    trials, exits = 3 * SCALE, []
    expected = addresses("x", 200 * trials)
    for start in range(0, len(expected), 1000):
        assert stack.post(expected[start:start + 1000], f"email-x{start}") == 200
    for trial in range(trials):
        after = rng.randint(1, 150)
        worker = stack.start_worker(f"worker{trial}", wait=False, PGFAULT_EXIT_AFTER_RESULTS=str(after))
        worker.popen.wait(60)
        assert worker.popen.returncode == 70, worker.output()[-2000:]
        assert "exiting right after a send result" in worker.output()
        exits.append(after)
    stack.start_worker("rescuer")
    stack.wait_terminal(len(expected), timeout=60)
    assert_once(stack.outbox_sends(), expected)
    assert "was sent again" not in stack.logs("")
    figures("outbox-answer-then-exit", trials=trials, recipients=len(expected), lost=0, twice=0, exit_after=exits)


# -- the SES path on moto ----------------------------------------------------------------------------


def ses_stack(tmp_path: Path, aws, *, event_source: bool, rate: float = 150.0) -> tuple[Stack, str | None]:
    """SES on moto behind the embedded storage and queue. With the event source, the grace must
    stay above the event path's lag: moto's SNS → SQS → source handles a few dozen Send events a
    second, and every send has one, so a backlog builds while no worker runs."""
    from postgate_ses.testing import wire_topic

    sesv2 = aws.client("sesv2")
    sesv2.create_email_identity(EmailIdentity=DOMAIN)
    sesv2.create_configuration_set(ConfigurationSetName="postgate")
    ses = {"region": "us-east-1", "endpoint_url": aws.url, "configuration_set": "postgate",
           "max_send_rate": rate, "send_threads": SEND_THREADS, "send_in_flight": SEND_THREADS,
           "in_doubt_grace_seconds": 20.0 if event_source else 5.0,
           "events_wait_seconds": 1, "events_visibility_timeout": 5}
    topic = None
    if event_source:
        topic, queue = wire_topic(aws)
        ses["events_queue_url"] = queue
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    stack = Stack(tmp_path, load_plugins=["ses"], gateway={"chunk_size": 100, "lease_seconds": 2.0},
                  backends={"delivery": "ses", "event_sources": ["ses"] if event_source else []},
                  plugins={"ses": ses}, env=env)
    return stack, topic


def moto_sends(aws) -> collections.Counter:
    return collections.Counter(m["destinations"][0].lower() for m in moto_raw(aws))


@pytest.mark.parametrize("event_source", [True, False], ids=["send-events", "no-event-source"])
def test_ses_worker_killed_during_send_leaves_at_most_send_threads_in_doubt(tmp_path, aws, rng, stacks,
                                                                            event_source):
    stack, topic = ses_stack(tmp_path, aws, event_source=event_source)
    stacks.append(stack)
    stack.migrate()
    stack.start_api()
    kills, marked, claimed = 3 * SCALE, [], []
    expected = addresses("s", 100 + 100 * kills)
    for start in range(0, len(expected), 1000):
        assert stack.post(expected[start:start + 1000], f"email-s{start}") == 200
    with contextlib.ExitStack() as running:
        if event_source:  # SES publishes Send events all along, whatever happens to the workers
            pump = running.enter_context(SendEventPump(stack, aws, topic))
        for kill in range(kills):
            before = stack.in_flight_ids()  # left by an earlier kill, not settled yet
            worker = stack.start_worker(f"worker{kill}")
            stack.wait_for(lambda: len(moto_raw(aws)) > 30 + kill * 80, timeout=60, what="sends")
            kill_at_random(worker, 0.0, 0.3, rng)
            marked.append(len(stack.in_flight_ids() - before))
            claimed.append(stack.in_doubt()[1])
        stack.start_worker("rescuer")
        rows = stack.wait_terminal(len(expected), timeout=150)
    if event_source:
        assert pump.error is None, pump.error
    for count in marked:
        assert count <= SEND_THREADS, f"{count} rows in doubt after one kill (send_threads {SEND_THREADS})"
    sends = moto_sends(aws)
    twice = sum(n - 1 for n in sends.values() if n > 1)
    assert twice == 0, f"sent more than once: {[a for a, n in sends.items() if n > 1][:10]}"
    held = [r for r in rows if r[4] and "held" in r[4]]
    lost = [r for r in rows if r[1].lower() not in sends]
    logs = stack.logs("")
    if event_source:
        assert not held and not lost, (held[:5], lost[:5])
        assert {r[2] for r in rows} == {"sent"} and all(r[3] for r in rows)
        if sum(marked):
            assert "were in doubt after a stopped worker" in logs or "from SES events" in logs
    else:
        # Never twice wins: a held row whose call never reached SES is the only possible loss.
        assert {r[1] for r in lost} <= {r[1] for r in held}
        if held:
            assert "gateway.in_doubt = hold" in logs
    figures(f"ses-worker-kill[{'send-events' if event_source else 'no-event-source'}]", kills=kills,
            recipients=len(expected), lost=len(lost), twice=twice, in_doubt_per_kill=marked,
            claimed_per_kill=claimed, held=len(held))


def test_ses_worker_exiting_between_the_answer_and_the_ledger_write(tmp_path, aws, rng, stacks):
    stack, topic = ses_stack(tmp_path, aws, event_source=True)
    stacks.append(stack)
    stack.migrate()
    stack.start_api()
    trials, marked = 2 * SCALE, []
    expected = addresses("e", 100 * trials)
    for start in range(0, len(expected), 1000):
        assert stack.post(expected[start:start + 1000], f"email-e{start}") == 200
    with SendEventPump(stack, aws, topic) as pump:
        for trial in range(trials):
            worker = stack.start_worker(f"worker{trial}", wait=False,
                                        PGFAULT_EXIT_AFTER_RESULTS=str(rng.randint(1, 60)))
            before = stack.in_flight_ids()
            worker.popen.wait(90)
            assert worker.popen.returncode == 70, worker.output()[-2000:]
            marked.append(len(stack.in_flight_ids() - before))
        stack.start_worker("rescuer")
        rows = stack.wait_terminal(len(expected), timeout=150)
    assert pump.error is None, pump.error
    assert all(0 < count <= SEND_THREADS for count in marked), marked
    sends = moto_sends(aws)
    assert_once(sends, expected)
    assert all(r[2] == "sent" and r[3] for r in rows)
    logs = stack.logs("")
    assert "were in doubt after a stopped worker" in logs or "from SES events" in logs
    figures("ses-answer-then-exit", trials=trials, recipients=len(expected), lost=0, twice=0,
            in_doubt_per_exit=marked)


# -- the database restarted mid-send -----------------------------------------------------------------


@pytest.mark.skipif(not PrivateMariadb.available(), reason="mariadbd and mariadb-install-db are needed")
def test_mariadb_killed_and_restarted_mid_send(tmp_path, rng, stacks):
    mariadb = PrivateMariadb(tmp_path)
    mariadb.install()
    mariadb.start()
    try:
        mariadb.create_database()
        stack = Stack(tmp_path, load_plugins=["mysql"], gateway={"chunk_size": 50},
                      backends={"storage": "mysql"}, plugins={"mysql": {"url": mariadb.url, "maxsize": 3}})
        stacks.append(stack)
        stack.migrate()
        stack.start_api()
        restarts = 2 * SCALE
        expected = addresses("m", 750 * restarts)
        for start in range(0, len(expected), 500):
            assert stack.post(expected[start:start + 500], f"email-m{start}") == 200
        worker = stack.start_worker()
        for restart in range(restarts):
            stack.wait_for(lambda: len(list(stack.outbox.glob("*/*.eml"))) > 100 + 500 * restart, timeout=60,
                           what="sends")
            kill_at_random(_ProcAdapter(mariadb), 0.0, 0.5, rng)
            time.sleep(rng.uniform(0.5, 2.0))
            mariadb.start()
        stack.wait_terminal(len(expected), timeout=120)
        assert worker.alive(), "the worker died with the database"
        assert_once(stack.outbox_sends(), expected)
        log = stack.logs("worker")
        assert "was sent again" not in log
        assert "failed" in log and ("recording" in log or "retrying" in log), log[-3000:]
        figures("mariadb-restart", restarts=restarts, recipients=len(expected), lost=0, twice=0)
    finally:
        for stack in stacks:
            stack.close()
        mariadb.stop()


class _ProcAdapter:
    """Lets :func:`kill_at_random` SIGKILL the private mariadbd."""

    def __init__(self, mariadb: PrivateMariadb) -> None:
        self.mariadb = mariadb

    def kill(self) -> None:
        self.mariadb.kill()

    @property
    def popen(self):
        return self.mariadb.popen


# -- the disk full -----------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path, request):
    """A small tmpfs (``size`` from the test's parameter, default 8m); unmounted after. It needs root,
    as CI and the development machines have: without it the disk-full tests fail, never skip."""
    size = getattr(request, "param", "8m")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.fail(f"the disk-full tests need a small tmpfs (run as root): {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path, leave: int = 0) -> None:
    """Fill the file system of ``path`` with one file, then give ``leave`` bytes back."""
    with path.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
    if leave:
        os.truncate(path, max(0, path.stat().st_size - leave))


def test_outbox_disk_full_keeps_rows_pending_and_finishes_once_space_is_back(tmp_path, small_disk, stacks):
    filler = small_disk / "filler"
    stack = Stack(tmp_path, gateway={"chunk_size": 50, "retry_delays": [0.5] * 30},
                  plugins={"outbox": {"folder": str(small_disk / "outbox")}})
    stack.outbox = small_disk / "outbox"
    stacks.append(stack)
    stack.migrate()
    stack.start_api()
    expected = addresses("d", 600)
    assert stack.post(expected, "email-d") == 200
    fill(filler, leave=64 * 1024)  # room for a few messages only
    stack.start_worker()
    stack.wait_for(lambda: "disk full" in stack.logs("worker"), timeout=60, what="the disk-full log line")
    rows = stack.ledger()
    assert any(r[2] in ("retry", "queued", "sending") for r in rows)
    written_while_full = len(list(stack.outbox.glob("*/*.eml")))
    filler.unlink()
    rows = stack.wait_terminal(len(expected), timeout=120)
    assert {r[2] for r in rows} == {"delivered"}, [r for r in rows if r[2] != "delivered"][:3]
    assert_once(stack.outbox_sends(), expected)
    assert not list(stack.outbox.glob("*/.*.tmp")), "half-written files left behind"
    figures("outbox-disk-full", recipients=len(expected), written_while_full=written_while_full, lost=0, twice=0)


@pytest.mark.parametrize("small_disk", ["64m"], indirect=True)
def test_sqlite_disk_full_mid_send_keeps_rows_pending_and_finishes_once_space_is_back(tmp_path, small_disk, stacks):
    stack = Stack(tmp_path, gateway={"chunk_size": 50, "lease_seconds": 3.0},
                  plugins={"sqlite": {"path": str(small_disk / "postgate.sqlite3")}})
    stack.data = small_disk  # where the ledger is read from
    stacks.append(stack)
    stack.migrate()
    stack.start_api()
    expected = addresses("q", 1000)
    for start in range(0, len(expected), 1000):
        assert stack.post(expected[start:start + 1000], f"email-q{start}") == 200
    stack.start_worker()
    stack.wait_for(lambda: len(list(stack.outbox.glob("*/*.eml"))) >= 100, timeout=60, what="sends")
    filler = small_disk / "filler"
    fill(filler)
    stack.wait_for(lambda: "disk full" in stack.logs("worker") or "database or disk is full" in stack.logs("worker"),
                   timeout=60, what="the disk-full log line")
    pending = sum(1 for r in stack.ledger() if r[2] not in ("delivered",))
    time.sleep(1.0)
    filler.unlink()
    rows = stack.wait_terminal(len(expected), timeout=120)
    assert {r[2] for r in rows} == {"delivered"}
    assert_once(stack.outbox_sends(), expected)
    logs = stack.logs("")
    assert "was sent again" not in logs
    # The disk may fill under the recorder's group commit (its own line) or under a claim or
    # lease write (the worker's line with SQLite's error), depending on timing.
    assert "failed (disk full" in logs or "database or disk is full" in logs, "no log line said the disk is full"
    figures("sqlite-disk-full", recipients=len(expected), pending_while_full=pending, lost=0, twice=0)
