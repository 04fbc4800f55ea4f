"""No event lost to Ghost's cursor (issue 7 §6), on SQLite.

Ghost moves its ``begin`` to the newest event's second + 1 after each run and reads up to "one
minute ago". Its loop (:mod:`postgate.testing.ghost_cursor`) is replayed against the events API
while several writers, one of them slow to commit, record events; every event must reach each of
Ghost's jobs exactly once. A hypothesis test drives the same loop with a hand-moved clock through
writes and reads placed on and around whole seconds.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postgate.builtin.sqlite_storage import sqlite_storage
from postgate.domain import EventQuery
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate.testing.ghost_cursor import (
    GhostAnalytics,
    Replay,
    ghost_event,
    js_date_ms,
    js_number,
    linger_before_commit,
    replay_while_writing,
)
from postgate.testing.storage_contract import ManualClock
from postgate.web import create_app


def http_get(client):
    async def get(path: str, params: dict[str, str]) -> dict[str, Any]:
        response = await client.get(path, query_string=params, headers=basic_auth())
        body = await response.get_json()
        assert response.status_code == 200, body
        return body
    return get


@pytest.fixture
async def served(gateway_factory, tmp_path):
    """The events API of a gateway on a SQLite file, and that file's path for more writers."""
    path = tmp_path / "shared.sqlite3"
    gateway = gateway_factory(plugin_settings={"sqlite": {"path": str(path)}})
    await gateway.start()
    async with create_app(gateway).test_app() as app:
        yield gateway, http_get(app.test_client()), path


# -- the port itself ----------------------------------------------------------------------------


def test_js_numbers_and_dates_as_ghost_makes_them():
    assert js_number(1_800_000_001_000 / 1000) == "1800000001"
    assert js_number(1_800_000_000_123 / 1000) == "1800000000.123"
    assert js_date_ms(1800000000.0) == 1_800_000_000_000
    assert js_date_ms(1800000000.9999) == 1_800_000_000_999  # truncated, as Date does


async def test_the_port_loses_events_on_a_server_with_fractional_times():
    """Against times with fractions (Mailgun's, and Postgate's before whole seconds) Ghost's
    one-second step skips what was stored after its ``end`` in the second it stepped past."""
    now = [1_800_000_100.0]
    events = [  # (timestamp, id)
        (1_800_000_039.2, "early"),      # before the first run's end (now - 60 s)
        (1_800_000_040.1, "after-end"),  # after that end, before early's time + 1 s
        (1_800_000_045.0, "later"),
    ]

    async def fractional_server(path: str, params: dict[str, str]) -> dict[str, Any]:
        if path.endswith("/events"):
            begin, end = float(params["begin"]), float(params["end"])
            items = [{"id": i, "event": "delivered", "timestamp": t, "recipient": "a@b.c"}
                     for t, i in events if begin <= t < end]
        else:
            items = []
        return {"items": items, "paging": {"next": "http://x/v3/d/events/next"}}

    ghost = GhostAnalytics(fractional_server, "d", lambda: int(now[0] * 1000))
    await ghost.fetch_latest(ghost.others)
    now[0] += 60
    await ghost.fetch_latest(ghost.others)
    assert [e.id for e in ghost.others.seen] == ["early", "later"]  # "after-end" is lost


# -- replays against the gateway -----------------------------------------------------------------


@pytest.mark.parametrize("ghost_lag", [0.0, 0.7, -1.5])
async def test_ghost_fetches_every_event_once_while_three_writers_record(served, ghost_lag):
    gateway, get, path = served
    writers = [sqlite_storage(path) for _ in range(3)]
    for writer in writers:
        await writer.start()
    slow = random.Random(5)
    linger_before_commit(writers[0], lambda: slow.choice([0.0, 0.05, 0.3]))  # slow transactions
    try:
        replay = await replay_while_writing(get, TEST_DOMAIN, writers, seconds=3.0, min_events=61,
                                            ghost_lag=ghost_lag, seed=int(ghost_lag * 10) + 7)
    finally:
        for writer in writers:
            await writer.stop()
    assert_exactly_once(replay)


def assert_exactly_once(replay: Replay) -> None:
    assert len(replay.stored) > 60
    assert replay.ghost.others.runs > 3
    assert not replay.problems(), replay.problems()
    fetched = replay.expected(replay.ghost.others) | replay.expected(replay.ghost.opened)
    seconds = {e.recorded_at for e in replay.stored if e.event_id in fetched}
    assert len(seconds) > 2 and all(s % 1_000_000 == 0 for s in seconds)


# -- generated schedules around whole seconds -----------------------------------------------------

#: Offsets within a second where reads and writes are placed: on, just after and just before it.
EDGES = st.sampled_from([0.0, 0.000001, 0.001, 0.25, 0.5, 0.999, 0.999999])
STEP = st.tuples(
    st.sampled_from(["write", "write", "ghost", "tail"]),
    st.integers(0, 2),   # whole seconds the clock moves first
    EDGES,               # where in that second
    st.integers(1, 4),   # events written / Ghost's lag in seconds (0..3 = n - 1)
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=3, max_size=25))
async def test_generated_schedules_fetch_every_event_once(served_with_clock, steps):
    gateway, get, clock, run = served_with_clock
    run[0] += 1
    tag = f"run-{run[0]}"
    base = math.floor(clock.now) + 5
    clock.now = base
    lag = [0.0]
    ghost = GhostAnalytics(get, TEST_DOMAIN, lambda: int((clock.now + 60 - lag[0]) * 1000), site_tag=tag)
    stored = []
    for n, (action, seconds, edge, size) in enumerate(steps):
        clock.now = max(clock.now, math.floor(clock.now) + seconds + edge)
        if action == "write":
            kinds = ["delivered", "opened", "failed"]
            stored += await gateway.record_events([
                ghost_event(TEST_DOMAIN, kinds[(n + i) % 3], f"{tag}.{n}.{i}", ("bulk-email", tag))
                for i in range(size)
            ])
        elif action == "ghost":
            lag[0] = float(size - 1) if size < 4 else -0.5
            await ghost.start_fetch()
        else:  # an open-ended reader newest first, which closes the current second
            await get(f"/v3/{TEST_DOMAIN}/events", {"limit": "1"})
    lag[0] = 0.0
    clock.now = math.floor(clock.now) + 3.5  # past every stamp (at most a second ahead)
    await ghost.start_fetch()
    clock.now += 1.2
    await ghost.start_fetch()
    replay = Replay(stored, ghost)
    assert not replay.problems(), (replay.problems(), steps)


@pytest.fixture
async def served_with_clock(served):
    gateway, get, _ = served
    clock = gateway.storage.clock = ManualClock(float(math.floor(time.time())))
    yield gateway, get, clock, [0]


async def test_event_pages_stay_index_searches(tmp_path):
    """With the visibility bound and the seal, SQLite still seeks the (domain, recorded_at, id)
    index for every page, also inside runs of one second (no scan, no temporary sort)."""
    storage = sqlite_storage(tmp_path / "plan.sqlite3")
    await storage.migrate()
    await storage.start()
    statements = []
    session = storage.session

    @asynccontextmanager
    async def recording(write: bool = False):
        async with session(write) as db:
            fetch = db.fetch

            async def fetch_and_record(sql, args=()):
                if sql.startswith("SELECT id, event_id"):
                    statements.append((sql, list(args)))
                return await fetch(sql, args)

            db.fetch = fetch_and_record
            yield db

    try:
        for second in range(4):
            storage.clock = lambda second=second: 1_800_000_000 + second + 0.5
            await storage.save_events([ghost_event(TEST_DOMAIN, "delivered", f"{second}.{i}") for i in range(200)])
        storage.session = recording
        page = await storage.page_events(EventQuery(domain=TEST_DOMAIN, ascending=True, limit=50))
        cursor = (page[-1].recorded_at, page[-1].id)
        for query in (
            EventQuery(domain=TEST_DOMAIN, ascending=True, limit=50, after=cursor),
            EventQuery(domain=TEST_DOMAIN, ascending=True, begin=1_800_000_001_000_000,
                       end=1_800_000_003_000_000, limit=300),
            EventQuery(domain=TEST_DOMAIN, ascending=False, limit=50, after=cursor),
        ):
            await storage.page_events(query)
        storage.session = session
        assert len(statements) >= 4
        async with storage.session() as db:
            for sql, args in statements:
                plan = " | ".join(str(row[3]) for row in await db.fetch("EXPLAIN QUERY PLAN " + sql, args))
                assert plan.startswith("SEARCH events USING INDEX idx_events_domain") and "recorded_at" in plan \
                    and "TEMP B-TREE" not in plan, (sql, plan)
    finally:
        await storage.stop()
