"""Plugin-owned tables (``register_models``) on SQLite: migrated into the storage's database with
their own aerich history, upgraded, checked against the models, used through ``storage.orm()``."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from postgate import Storage, hookimpl
from postgate.builtin.sqlite_storage import MIGRATIONS
from postgate.model_apps import ModelApp, model_app
from postgate.settings import ConfigError
from postgate.storage.makemigrations import make_migrations
from postgate.testing import notes_app
from postgate.testing.notes_app import add_note, notes

NOTES = model_app(notes_app.LABEL, notes_app.MODELS, notes_app.MIGRATIONS)


def core_history() -> list[str]:
    return sorted(p.name for p in (MIGRATIONS / "models").glob("[0-9]*_*.py"))


def notes_history() -> list[str]:
    return [f"notes/{name}" for name in NOTES.versions("sqlite")]


def storage_of(gateway):
    return gateway.storages.get("sqlite")(gateway)


def columns(path, table: str) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def aerich_rows(path, app: str) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT version FROM aerich WHERE app = ? ORDER BY id", (app,))]


async def test_migrate_creates_the_plugin_tables_beside_the_core_ones(gateway_factory) -> None:
    gateway = gateway_factory(plugins=[notes_app])
    storage = storage_of(gateway)
    assert len(notes_history()) == 2
    applied = await storage.migrate()
    assert applied == core_history() + notes_history()
    path = gateway.settings.data_dir / "postgate.sqlite3"
    assert columns(path, "example_notes") == ["id", "body", "created_at", "author"]
    assert aerich_rows(path, "notes") == NOTES.versions("sqlite")
    assert aerich_rows(path, "models") == core_history()
    assert await storage.migrate() == []  # a second run is a no-op


async def test_a_second_migration_upgrades_an_older_database(gateway_factory, tmp_path) -> None:
    location = tmp_path / "notes_migrations"
    first, second = NOTES.versions("sqlite")
    (location / "sqlite" / "notes").mkdir(parents=True)
    shutil.copy(NOTES.history("sqlite") / first, location / "sqlite" / "notes")
    gateway = gateway_factory(plugins=[notes_app])
    storage = storage_of(gateway)
    storage.model_apps = [ModelApp("notes", notes_app.MODELS, location)]
    path = gateway.settings.data_dir / "postgate.sqlite3"
    assert (await storage.migrate())[-1] == f"notes/{first}"
    assert "author" not in columns(path, "example_notes")
    shutil.copy(NOTES.history("sqlite") / second, location / "sqlite" / "notes")
    assert await storage.migrate() == [f"notes/{second}"]
    assert "author" in columns(path, "example_notes")
    assert aerich_rows(path, "notes") == [first, second]


async def test_models_and_migrations_agree_for_plugin_apps(gateway_factory, tmp_path) -> None:
    gateway = gateway_factory(plugins=[notes_app])
    storage = storage_of(gateway)
    await storage.migrate()
    assert await storage.unmigrated_changes(tmp_path / "in_sync") == []
    # Not vacuous: forget the newest notes migration and the difference is found for that app.
    path = gateway.settings.data_dir / "postgate.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM aerich WHERE app = 'notes' AND version LIKE '1\\_%' ESCAPE '\\'")
    new = await storage.unmigrated_changes(tmp_path / "behind")
    assert len(new) == 1 and new[0].startswith("notes/1_") and new[0].endswith("_unmigrated.py")
    text = next((tmp_path / "behind").rglob(new[0].split("/")[1])).read_text()
    assert 'ALTER TABLE "example_notes" ADD "author"' in text


async def test_a_started_gateway_serves_the_plugin_models(gateway_factory) -> None:
    gateway = gateway_factory(plugins=[notes_app])
    await gateway.start()  # migrate_on_start creates the tables
    first = await add_note(gateway, "hello", author="ana")
    second = await add_note(gateway, "world")
    assert second > first
    assert await notes(gateway) == [("hello", "ana"), ("world", "")]


async def test_the_models_need_the_storage_context(gateway_factory) -> None:
    """Outside ``orm()`` no context is current: the plugin's query fails instead of guessing."""
    from postgate.testing.notes_app.models import Note

    gateway = gateway_factory(plugins=[notes_app])
    await gateway.start()
    with pytest.raises(RuntimeError, match="TortoiseContext"):
        await Note.all()


class PlainStorage(Storage):
    """A storage that is not tortoise-based (its methods are never reached)."""


PlainStorage.__abstractmethods__ = frozenset()


class PlainStoragePlugin:
    @staticmethod
    @hookimpl
    def register_storages(register) -> None:
        register("plain", PlainStorage)


async def test_a_storage_without_tortoise_refuses_plugin_apps_at_startup(gateway_factory) -> None:
    gateway = gateway_factory(plugins=[notes_app, PlainStoragePlugin()], backends={"storage": "plain"})
    with pytest.raises(ConfigError, match=r"notes keep their own tables .* tortoise-based storage .* 'plain'"):
        await gateway.start()


async def test_without_plugin_apps_a_plain_storage_is_fine(gateway_factory) -> None:
    gateway = gateway_factory(plugins=[PlainStoragePlugin()], backends={"storage": "plain"})
    assert gateway.model_apps.names() == []


@pytest.mark.parametrize(("label", "models", "message"), [
    ("models", notes_app.MODELS, "reserved"),
    ("Bad-Label", notes_app.MODELS, "lower-case"),
    ("notes", "postgate.testing.no_such_models", "cannot be imported"),
])
def test_bad_registrations_are_config_errors(label, models, message) -> None:
    with pytest.raises(ConfigError, match=message):
        model_app(label, models, notes_app.MIGRATIONS)


async def test_makemigrations_writes_both_dialects_then_nothing(tmp_path) -> None:
    app = ModelApp("notes", notes_app.MODELS, tmp_path)
    written = await make_migrations(app, "init")
    assert [p.relative_to(tmp_path).parts[:2] for p in written] == [("sqlite", "notes"), ("mysql", "notes")]
    assert 'CREATE TABLE IF NOT EXISTS "example_notes"' in written[0].read_text()
    assert "CREATE TABLE IF NOT EXISTS `example_notes`" in written[1].read_text()
    assert "`author` VARCHAR(64)" in written[1].read_text()
    assert await make_migrations(app, "again") == []


async def test_an_app_without_migrations_for_the_dialect_says_how_to_make_them(gateway_factory, tmp_path) -> None:
    gateway = gateway_factory(plugins=[notes_app])
    storage = storage_of(gateway)
    storage.model_apps = [ModelApp("notes", notes_app.MODELS, tmp_path / "empty")]
    with pytest.raises(ConfigError, match=r"'notes' ships no sqlite migrations .*`postgate makemigrations notes`"):
        await storage.migrate()
