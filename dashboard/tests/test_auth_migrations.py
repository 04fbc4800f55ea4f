"""The accounts tables' committed histories build exactly their models, on SQLite and MariaDB, and
an upgrade keeps the accounts made before it."""

from __future__ import annotations

import shutil
import sqlite3

from postgate.builtin.sqlite_storage import sqlite_storage
from postgate.model_apps import ModelApp, model_app
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


async def test_the_two_factor_migration_keeps_existing_accounts(tmp_path) -> None:
    """An account made before two-factor existed is still there after the upgrade, with it off."""
    history = tmp_path / "migrations"
    shutil.copytree(APP.migrations / "sqlite", history / "sqlite")
    first, *later = APP.versions("sqlite")
    for name in later:
        (history / "sqlite" / LABEL / name).unlink()
    storage = sqlite_storage(tmp_path / "db.sqlite3")
    storage.model_apps = [ModelApp(LABEL, APP.models, history)]
    assert (await storage.migrate())[-1] == f"{LABEL}/{first}"
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        db.execute("INSERT INTO dashboard_user (email, password_hash, role, session_key, failed_logins, "
                   "locked_until, created_at) VALUES ('ann@example.com', 'x', 'admin', 'k', 0, 0, 1)")
    for name in later:
        shutil.copy(APP.history("sqlite") / name, history / "sqlite" / LABEL / name)
    assert await storage.migrate() == [f"{LABEL}/{name}" for name in later]
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        row = db.execute("SELECT email, totp_secret, totp_enabled_at, totp_last_step, failed_codes "
                         "FROM dashboard_user").fetchall()
        assert row == [("ann@example.com", None, None, 0, 0)]
        assert db.execute("SELECT count(*) FROM dashboard_recovery_code").fetchone() == (0,)
