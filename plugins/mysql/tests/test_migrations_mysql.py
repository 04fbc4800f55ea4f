"""The committed MySQL migration history builds exactly the schema the models describe."""

from __future__ import annotations

from postgate.testing.mariadb import mariadb_url  # noqa: F401 - fixture
from postgate_mysql.storage import MIGRATIONS, MysqlStorage


def history() -> list[str]:
    return sorted(p.name for p in (MIGRATIONS / "models").glob("[0-9]*_*.py"))


async def test_history_matches_models(mariadb_url, tmp_path) -> None:  # noqa: F811
    storage = MysqlStorage(None, db_url=mariadb_url)
    assert sorted(await storage.migrate()) == history() != []
    assert await storage.unmigrated_changes(tmp_path / "scratch") == []


async def test_migrate_is_idempotent(mariadb_url) -> None:  # noqa: F811
    storage = MysqlStorage(None, db_url=mariadb_url)
    assert await storage.migrate() == history()
    assert await storage.migrate() == []
    await storage.start()
    try:
        assert await storage.migrate() == []
        await storage.check()
    finally:
        await storage.stop()
