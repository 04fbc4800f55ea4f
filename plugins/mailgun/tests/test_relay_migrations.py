"""The relay's cursor table: its committed histories build exactly its model on SQLite and MariaDB,
and the cursor survives a restart of the storage."""

from __future__ import annotations

from postgate.builtin.sqlite_storage import sqlite_storage
from postgate.model_apps import model_app
from postgate.testing.mariadb import mariadb_url  # noqa: F401 - fixture
from postgate_mysql.storage import MysqlStorage

APP = model_app("mailgun_relay", "postgate_mailgun.models", "postgate_mailgun.migrations")


class _Holder:
    """Just enough of a gateway for :mod:`postgate_mailgun.cursor`: its storage."""

    def __init__(self, storage) -> None:
        self.storage = storage


async def _round_trip(storage) -> None:
    from postgate_mailgun import cursor

    holder = _Holder(storage)
    assert await cursor.load(holder, "relay.example.net") is None
    await cursor.save(holder, "relay.example.net", "/v3/relay.example.net/events/abc")
    await cursor.save(holder, "relay.example.net", "/v3/relay.example.net/events/def")
    assert await cursor.load(holder, "relay.example.net") == "/v3/relay.example.net/events/def"


async def test_sqlite_history_matches_the_model_and_keeps_the_cursor(tmp_path) -> None:
    storage = sqlite_storage(tmp_path / "db.sqlite3")
    storage.model_apps = [APP]
    applied = await storage.migrate()
    assert [f"mailgun_relay/{name}" for name in APP.versions("sqlite")] == applied[-1:]
    assert await storage.unmigrated_changes(tmp_path / "scratch") == []
    await storage.start()
    try:
        await _round_trip(storage)
    finally:
        await storage.stop()


async def test_mysql_history_matches_the_model_and_keeps_the_cursor(mariadb_url, tmp_path) -> None:  # noqa: F811
    storage = MysqlStorage(None, db_url=mariadb_url)
    storage.model_apps = [APP]
    applied = await storage.migrate()
    assert [f"mailgun_relay/{name}" for name in APP.versions("mysql")] == applied[-1:]
    assert await storage.unmigrated_changes(tmp_path / "scratch") == []
    await storage.start()
    try:
        await _round_trip(storage)
    finally:
        await storage.stop()
