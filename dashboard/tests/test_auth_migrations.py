"""The accounts table's committed histories build exactly its model, on SQLite and MariaDB."""

from __future__ import annotations

from postgate.builtin.sqlite_storage import sqlite_storage
from postgate.model_apps import model_app
from postgate.testing.mariadb import mariadb_url  # noqa: F401 - fixture
from postgate_dashboard.web_plugin import LABEL
from postgate_mysql.storage import MysqlStorage

APP = model_app(LABEL, "postgate_dashboard.auth_models", "postgate_dashboard.auth_migrations")


def applied_names(dialect: str) -> list[str]:
    return [f"{LABEL}/{name}" for name in APP.versions(dialect)]


async def test_sqlite_history_matches_models(tmp_path) -> None:
    storage = sqlite_storage(tmp_path / "db.sqlite3")
    storage.model_apps = [APP]
    applied = await storage.migrate()
    assert applied[-len(applied_names("sqlite")):] == applied_names("sqlite") != []
    assert await storage.unmigrated_changes(tmp_path / "scratch") == []


async def test_mysql_history_matches_models(mariadb_url, tmp_path) -> None:  # noqa: F811
    storage = MysqlStorage(None, db_url=mariadb_url)
    storage.model_apps = [APP]
    applied = await storage.migrate()
    assert applied[-len(applied_names("mysql")):] == applied_names("mysql") != []
    assert await storage.unmigrated_changes(tmp_path / "scratch") == []
