"""The plugin's committed histories build exactly its models, on SQLite and MariaDB."""

from __future__ import annotations

import os
import subprocess
import sys

from postgate.builtin.sqlite_storage import sqlite_storage
from postgate.model_apps import model_app
from postgate.testing.mariadb import mariadb_url  # noqa: F401 - fixture
from postgate_mysql.storage import MysqlStorage

APP = model_app("webhooks", "postgate_webhooks.models", "postgate_webhooks.migrations")


async def test_sqlite_history_matches_models(tmp_path) -> None:
    storage = sqlite_storage(tmp_path / "db.sqlite3")
    storage.model_apps = [APP]
    applied = await storage.migrate()
    assert applied[-1] == f"webhooks/{APP.versions('sqlite')[-1]}"
    assert await storage.unmigrated_changes(tmp_path / "scratch") == []
    await storage.stop()


async def test_mysql_history_matches_models(mariadb_url, tmp_path) -> None:  # noqa: F811
    storage = MysqlStorage(None, db_url=mariadb_url)
    storage.model_apps = [APP]
    applied = await storage.migrate()
    assert applied[-1] == f"webhooks/{APP.versions('mysql')[-1]}"
    assert await storage.unmigrated_changes(tmp_path / "scratch") == []
    await storage.stop()


def test_makemigrations_finds_the_committed_history_current(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env["POSTGATE_LOAD_PLUGINS"] = '["webhooks"]'
    done = subprocess.run([sys.executable, "-m", "postgate", "makemigrations", "webhooks", "--name", "check"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "the models match the newest migration; nothing written" in done.stdout
