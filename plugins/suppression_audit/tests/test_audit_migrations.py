"""The plugin's committed histories build exactly its models, on SQLite and MariaDB, and
``postgate migrate`` applies them into the storage's own database, once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import postgate_suppression_audit
from postgate.builtin.sqlite_storage import sqlite_storage
from postgate.model_apps import model_app
from postgate.testing.mariadb import mariadb_url  # noqa: F401 - fixture
from postgate_mysql.storage import MysqlStorage

APP = model_app(postgate_suppression_audit.LABEL, "postgate_suppression_audit.models",
                "postgate_suppression_audit.migrations")


def applied_names(dialect: str) -> list[str]:
    return [f"suppression_audit/{name}" for name in APP.versions(dialect)]


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


def run(tmp_path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update({"POSTGATE_LOAD_PLUGINS": '["suppression_audit"]', **settings})
    return subprocess.run([sys.executable, "-m", "postgate", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_postgate_migrate_creates_the_table_in_the_sqlite_file(tmp_path) -> None:
    done = run(tmp_path, "migrate", POSTGATE_DATA_DIR=str(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    assert f"suppression_audit/{APP.versions('sqlite')[0]}" in done.stdout
    with sqlite3.connect(tmp_path / "data" / "postgate.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM suppression_audit").fetchone() == (0,)
        versions = [r[0] for r in db.execute("SELECT version FROM aerich WHERE app = 'suppression_audit'")]
    assert versions == APP.versions("sqlite")
    again = run(tmp_path, "migrate", POSTGATE_DATA_DIR=str(tmp_path / "data"))
    assert again.returncode == 0 and "sqlite storage is up to date" in again.stdout


def test_postgate_migrate_creates_the_table_in_the_mysql_database(mariadb_url, tmp_path) -> None:  # noqa: F811
    settings = {"POSTGATE_LOAD_PLUGINS": '["mysql", "suppression_audit"]', "POSTGATE_BACKENDS__STORAGE": "mysql",
                "POSTGATE_PLUGINS__MYSQL__URL": mariadb_url, "POSTGATE_DATA_DIR": str(tmp_path / "data")}
    done = run(tmp_path, "migrate", **settings)
    assert done.returncode == 0, done.stderr
    assert f"suppression_audit/{APP.versions('mysql')[0]}" in done.stdout
    again = run(tmp_path, "migrate", **settings)
    assert again.returncode == 0 and "mysql storage is up to date" in again.stdout, again.stderr


def test_makemigrations_finds_the_committed_history_current(tmp_path) -> None:
    done = run(tmp_path, "makemigrations", "suppression_audit", "--name", "check")
    assert done.returncode == 0, done.stderr
    assert "the models match the newest migration; nothing written" in done.stdout


def test_makemigrations_of_an_app_nobody_registered_names_the_known_ones(tmp_path) -> None:
    done = run(tmp_path, "makemigrations", "no_such_app")
    assert done.returncode != 0
    assert "unknown model app 'no_such_app' (available: suppression_audit)" in done.stderr
