"""No event lost to Ghost's cursor (issue 7 §6), on MariaDB: Ghost's loop replayed against the
events API while three writers (separate pools, as worker processes have; one slow to commit)
record events. Every event reaches each of Ghost's jobs exactly once."""

from __future__ import annotations

import random
from contextlib import asynccontextmanager
from typing import Any

import pytest

import postgate_mysql
from postgate.domain import EventQuery
from postgate.storage.tortoise_storage import SECOND
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate.testing.ghost_cursor import ghost_event, linger_before_commit, replay_while_writing
from postgate.testing.mariadb import mariadb_url  # noqa: F401 - fixture
from postgate.web import create_app
from postgate_mysql.storage import MysqlStorage


@pytest.mark.parametrize("ghost_lag", [0.0, -1.5])
async def test_ghost_fetches_every_event_once_while_three_writers_record(gateway_factory, mariadb_url,  # noqa: F811
                                                                        ghost_lag):
    gateway = gateway_factory(plugins=[postgate_mysql], backends={"storage": "mysql"},
                              plugin_settings={"mysql": {"url": mariadb_url, "maxsize": 4}})
    await gateway.start()
    writers = [MysqlStorage(None, db_url=mariadb_url, maxsize=2) for _ in range(3)]
    for writer in writers:
        await writer.start()
    slow = random.Random(3)
    linger_before_commit(writers[0], lambda: slow.choice([0.0, 0.05, 0.3]))
    try:
        async with create_app(gateway).test_app() as app:
            client = app.test_client()

            async def get(path: str, params: dict[str, str]) -> dict[str, Any]:
                response = await client.get(path, query_string=params, headers=basic_auth())
                body = await response.get_json()
                assert response.status_code == 200, body
                return body

            replay = await replay_while_writing(get, TEST_DOMAIN, writers, seconds=3.0, min_events=61,
                                                ghost_lag=ghost_lag, seed=11 + int(ghost_lag * 10))
    finally:
        for writer in writers:
            await writer.stop()
    assert len(replay.stored) > 60 and replay.ghost.others.runs > 3
    assert not replay.problems(), replay.problems()
    assert all(e.recorded_at % 1_000_000 == 0 for e in replay.stored)


async def test_event_pages_stay_index_range_scans(mariadb_url):  # noqa: F811
    """With the visibility bound and the seal, every page query is still a range of the
    (domain, recorded_at, id) index, beginning at its bound or cursor, also inside runs of one second."""
    storage = MysqlStorage(None, db_url=mariadb_url, maxsize=2)
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
            EventQuery(domain=TEST_DOMAIN, ascending=True, begin=1_800_000_001 * SECOND,
                       end=1_800_000_003 * SECOND, limit=300),
            EventQuery(domain=TEST_DOMAIN, ascending=False, limit=50, after=cursor),
            EventQuery(domain=TEST_DOMAIN, ascending=True, limit=50, after=cursor, live=True),
        ):
            await storage.page_events(query)
        assert len(statements) >= 5
        storage.session = session
        async with storage.session() as db:
            for sql, args in statements:
                plan = await db.fetch("EXPLAIN " + sql, args)
                assert len(plan) == 1, plan
                access, key = plan[0][3], plan[0][5]  # a range (not a ref on the domain alone)
                assert access == "range" and key, (sql, plan)
    finally:
        await storage.stop()
