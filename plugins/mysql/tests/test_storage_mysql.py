"""The storage contract on MariaDB/MySQL (a fresh database per test, dropped after)."""

from __future__ import annotations

import pytest

from postgate.testing.mariadb import mariadb_url  # noqa: F401 - fixture
from postgate.testing.storage_contract import StorageContract
from postgate_mysql.storage import MysqlStorage


class TestMysqlStorage(StorageContract):
    @pytest.fixture
    async def storage(self, mariadb_url):  # noqa: F811
        storage = MysqlStorage(None, db_url=mariadb_url, maxsize=8)
        await storage.migrate()
        await storage.start()
        yield storage
        await storage.stop()

    @pytest.fixture
    async def second_storage(self, storage, mariadb_url):  # noqa: F811
        other = MysqlStorage(None, db_url=mariadb_url, maxsize=8)
        await other.start()
        yield other
        await other.stop()


async def test_stats_query_is_an_index_range_scan(mariadb_url):  # noqa: F811
    """``/stats`` reads a range of the (domain, recorded_at, id) index, not the whole domain or table."""
    import time

    from postgate.testing.storage_contract import event

    storage = MysqlStorage(None, db_url=mariadb_url, maxsize=2)
    await storage.migrate()
    await storage.start()
    try:
        for part in range(6):  # several domains and many events, so that a scan would be priced honestly
            await storage.save_events([event(domain=f"d{part % 3}.example.com", recipient=f"r{part}-{i}@x.org",
                                             kind=("delivered", "opened", "failed")[i % 3]) for i in range(400)])
        now = time.time()
        async with storage.session() as db:
            hint = await storage.events_index_hint(db)
            assert hint, "the (domain, recorded_at, id) index was not found"
            for tag in (None, "newsletter"):
                statement, args = storage.count_events_statement(
                    "d1.example.com", ["delivered", "failed"], now - 86400, now + 60, 3600, tag, hint=hint)
                plan = await db.fetch("EXPLAIN " + statement, args)
                columns = ("id", "select_type", "table", "type", "possible_keys", "key", "key_len", "ref", "rows")
                rows = [dict(zip(columns, row)) for row in plan]
                events_rows = [r for r in rows if r["table"] == "events"]
                assert events_rows, rows
                assert all(r["type"] == "range" and r["key"] == hint.split("`")[1] for r in events_rows), rows
        counts = await storage.count_events("d1.example.com", ["delivered"], now - 86400, now + 60, 3600)
        assert sum(c.count for c in counts) == 2 * 134
    finally:
        await storage.stop()
