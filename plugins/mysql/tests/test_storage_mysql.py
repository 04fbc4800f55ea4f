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
