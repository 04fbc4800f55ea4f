"""The plugin's committed histories build exactly its models, on SQLite and MariaDB, and migrations 1
(the URL index and the duration column) and 2 (the test flag) upgrade a log that already holds POSTs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from postgate.builtin.sqlite_storage import sqlite_storage
from postgate.model_apps import model_app
from postgate.testing.mariadb import temporary_database
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


LONG_URL = "https://hooks.example.net/" + "p" * 2000  # longer than the MySQL index's 700-character prefix


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
async def test_migrations_1_and_2_upgrade_a_log_that_holds_posts(dialect, tmp_path) -> None:
    from postgate_webhooks import dashboard_page
    from postgate_webhooks.models import Attempt

    first = tmp_path / "first"  # the history as it was before migration 1
    (first / dialect / "webhooks").mkdir(parents=True)
    shutil.copy(APP.history(dialect) / APP.versions(dialect)[0], first / dialect / "webhooks")
    rows = [(n, float(n), "mg.example.com", "delivered", url, f"e{n}", 200, "delivered", "")
            for n, url in enumerate([LONG_URL, LONG_URL[:-1] + "q", "https://short.example/"] * 3)]

    async def check(storage) -> None:
        storage.model_apps = [model_app("webhooks", "postgate_webhooks.models", first)]
        assert (await storage.migrate())[-1] == f"webhooks/{APP.versions(dialect)[0]}"  # the core's first
        await storage.start()
        async with storage.session(write=True) as db:
            await db.executemany("INSERT INTO webhooks_attempts (delivery_id, at, domain, webhook, url, event_id, "
                                 "status_code, outcome, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        storage.model_apps = [APP]
        assert await storage.migrate() == [f"webhooks/{v}" for v in APP.versions(dialect)[1:3]]
        with storage.orm():
            found = await dashboard_page._query(dashboard_page.Filters(url=LONG_URL))
            assert [(a.event_id, a.duration_ms, a.test) for a in found] == [("e6", None, False), ("e3", None, False),
                                                                            ("e0", None, False)]
            assert await Attempt.filter(test=True).count() == 0
        await storage.stop()

    if dialect == "sqlite":
        await check(sqlite_storage(tmp_path / "db.sqlite3"))
    else:
        async with temporary_database() as url:
            await check(MysqlStorage(None, db_url=url))
