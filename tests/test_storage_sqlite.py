"""The storage contract on the built-in SQLite storage (a WAL file per test)."""

from __future__ import annotations

import pytest

from postgate.builtin.sqlite_storage import sqlite_storage
from postgate.testing.storage_contract import StorageContract


class TestSqliteStorage(StorageContract):
    @pytest.fixture
    async def storage(self, tmp_path):
        storage = sqlite_storage(tmp_path / "postgate.sqlite3")
        await storage.migrate()
        await storage.start()
        yield storage
        await storage.stop()

    @pytest.fixture
    async def second_storage(self, storage, tmp_path):
        other = sqlite_storage(tmp_path / "postgate.sqlite3")
        await other.start()
        yield other
        await other.stop()


async def test_sqlite_runs_in_wal_mode(tmp_path):
    """WAL lets readers (events pages) proceed while a worker writes."""
    storage = sqlite_storage(tmp_path / "wal.sqlite3")
    await storage.start()
    try:
        async with storage.session() as db:
            rows = await db.fetch("PRAGMA journal_mode", ())
        assert str(rows[0][0]).lower() == "wal"
    finally:
        await storage.stop()


async def test_stats_query_searches_the_events_index(tmp_path):
    """``/stats`` on SQLite reads a range of the (domain, recorded_at, id) index, not the table."""
    storage = sqlite_storage(tmp_path / "stats.sqlite3")
    await storage.migrate()
    await storage.start()
    try:
        for tag in (None, "newsletter"):
            statement, args = storage.count_events_statement("mg.example.com", ["delivered", "failed"], 0.0, 1e9,
                                                             3600, tag)
            async with storage.session() as db:
                plan = " | ".join(str(row[-1]) for row in await db.fetch("EXPLAIN QUERY PLAN " + statement, args))
            assert "SEARCH events USING INDEX idx_events_domain_d0f5b1 (domain=? AND recorded_at>? AND recorded_at<?)" \
                in plan, plan
            assert "SCAN events" not in plan, plan
    finally:
        await storage.stop()
