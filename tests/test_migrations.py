"""The committed SQLite migration history builds exactly the schema the models describe."""

from __future__ import annotations

import json
import sqlite3

from postgate.builtin.sqlite_storage import MIGRATIONS, sqlite_storage


def history() -> list[str]:
    return sorted(p.name for p in (MIGRATIONS / "models").glob("[0-9]*_*.py"))


async def test_history_matches_models(tmp_path) -> None:
    storage = sqlite_storage(tmp_path / "db.sqlite3")
    assert sorted(await storage.migrate()) == history() != []
    assert await storage.unmigrated_changes(tmp_path / "scratch") == []


async def test_migrate_is_idempotent(tmp_path) -> None:
    storage = sqlite_storage(tmp_path / "db.sqlite3")
    assert await storage.migrate() == history()
    assert await storage.migrate() == []
    await storage.start()
    try:
        assert await storage.migrate() == []
        await storage.check()
    finally:
        await storage.stop()
    assert await sqlite_storage(tmp_path / "db.sqlite3").migrate() == []


async def test_a_model_change_is_noticed(tmp_path) -> None:
    """The check is not vacuous: a field the recorded history lacks yields a migration."""
    path = tmp_path / "db.sqlite3"
    storage = sqlite_storage(path)
    await storage.migrate()
    with sqlite3.connect(path) as db:
        (row_id, content), = db.execute("SELECT id, content FROM aerich ORDER BY id DESC LIMIT 1")
        state = json.loads(content)
        tag = state["models.TagRow"]
        tag["data_fields"] = [f for f in tag["data_fields"] if f["name"] != "description"]
        db.execute("UPDATE aerich SET content = ? WHERE id = ?", (json.dumps(state), row_id))
    new = await storage.unmigrated_changes(tmp_path / "scratch")
    assert len(new) == 1
    text = next((tmp_path / "scratch").rglob(new[0])).read_text()
    assert 'ALTER TABLE "tags" ADD "description" TEXT' in text
