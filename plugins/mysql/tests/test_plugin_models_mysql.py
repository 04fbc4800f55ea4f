"""Plugin-owned tables (``register_models``) on MariaDB: created in the storage's database with
their own aerich history, upgraded by a second migration, checked against the models, queried."""

from __future__ import annotations

import shutil

import postgate_mysql
from postgate.model_apps import ModelApp, model_app
from postgate.testing import notes_app
from postgate.testing.mariadb import mariadb_url  # noqa: F401 - fixture
from postgate.testing.notes_app import add_note, notes
from postgate_mysql.storage import MIGRATIONS, MysqlStorage

NOTES = model_app(notes_app.LABEL, notes_app.MODELS, notes_app.MIGRATIONS)


def core_history() -> list[str]:
    return sorted(p.name for p in (MIGRATIONS / "models").glob("[0-9]*_*.py"))


def storage_with(url: str, app: ModelApp = NOTES) -> MysqlStorage:
    storage = MysqlStorage(None, db_url=url)
    storage.model_apps = [app]
    return storage


async def query(storage: MysqlStorage, sql: str, args=()) -> list:
    await storage.start()
    try:
        async with storage.session() as db:
            return [tuple(row) for row in await db.fetch(sql, args)]
    finally:
        await storage.stop()


async def test_migrate_creates_the_plugin_tables_and_is_then_a_no_op(mariadb_url) -> None:  # noqa: F811
    storage = storage_with(mariadb_url)
    applied = await storage.migrate()
    assert applied == core_history() + [f"notes/{name}" for name in NOTES.versions("mysql")]
    assert len(NOTES.versions("mysql")) == 2
    cols = await query(storage, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
                                "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'example_notes' ORDER BY ORDINAL_POSITION")
    assert cols == [("id",), ("body",), ("created_at",), ("author",)]
    rows = await query(storage, "SELECT version FROM aerich WHERE app = ? ORDER BY id", ("notes",))
    assert [r[0] for r in rows] == NOTES.versions("mysql")
    assert await storage.migrate() == []
    assert await storage_with(mariadb_url).migrate() == []


async def test_a_second_migration_upgrades_an_older_database(mariadb_url, tmp_path) -> None:  # noqa: F811
    first, second = NOTES.versions("mysql")
    folder = tmp_path / "mysql" / "notes"
    folder.mkdir(parents=True)
    shutil.copy(NOTES.history("mysql") / first, folder)
    storage = storage_with(mariadb_url, ModelApp("notes", notes_app.MODELS, tmp_path))
    assert (await storage.migrate())[-1] == f"notes/{first}"
    shutil.copy(NOTES.history("mysql") / second, folder)
    assert await storage.migrate() == [f"notes/{second}"]
    cols = await query(storage, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
                                "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'example_notes' AND COLUMN_NAME = 'author'")
    assert cols == [("author",)]


async def test_models_and_migrations_agree_for_plugin_apps(mariadb_url, tmp_path) -> None:  # noqa: F811
    storage = storage_with(mariadb_url)
    await storage.migrate()
    assert await storage.unmigrated_changes(tmp_path / "scratch") == []


async def test_a_started_gateway_serves_the_plugin_models(gateway_factory, mariadb_url) -> None:  # noqa: F811
    gateway = gateway_factory(plugins=[postgate_mysql, notes_app], backends={"storage": "mysql"},
                              plugin_settings={"mysql": {"url": mariadb_url}})
    await gateway.start()
    await add_note(gateway, "über", author="ana")
    await add_note(gateway, "plain")
    assert await notes(gateway) == [("über", "ana"), ("plain", "")]
