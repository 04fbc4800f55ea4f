"""Events searched by recipient or message id read that column's index on MariaDB (issue 9)."""

from __future__ import annotations

from postgate.domain import EventQuery, Term
from postgate.testing.event_plans import page_statements, search_queries
from postgate.testing.mariadb import mariadb_url  # noqa: F401 - fixture
from postgate.testing.storage_contract import event
from postgate_mysql.storage import MysqlStorage

DOMAIN = "search.example.com"
PLAN_COLUMNS = ("id", "select_type", "table", "type", "possible_keys", "key", "key_len", "ref", "rows")


async def index_columns(db, name: str) -> list[str]:
    rows = await db.fetch(
        "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'events' AND INDEX_NAME = ? ORDER BY SEQ_IN_INDEX", (name,))
    return [r[0] for r in rows]


async def test_search_pages_read_the_column_index(mariadb_url):  # noqa: F811
    """Each recipient / message-id page is a range of the (domain, column, recorded_at, id) index
    with no filesort; the plain page still reads (domain, recorded_at, id); results are folded."""
    storage = MysqlStorage(None, db_url=mariadb_url, maxsize=2)
    await storage.migrate()
    await storage.start()
    try:
        for part in range(4):
            await storage.save_events([
                event(domain=(DOMAIN, "other.example.com")[part % 2], recipient=f"R{i % 40}@Example.org",
                      message_id=f"m{i % 30}@x", kind=("delivered", "failed")[i % 2])
                for i in range(300)
            ] + [event(domain=DOMAIN, recipient="Bob@example.org", message_id="m7@x")])
        first = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=10))
        cursor = (first[-1].recorded_at, first[-1].id)
        cases = search_queries(DOMAIN) + search_queries(DOMAIN, after=cursor)
        statements = await page_statements(storage, [query for _, query in cases])
        plain = await page_statements(storage, [EventQuery(domain=DOMAIN, ascending=True, after=cursor)])
        async with storage.session() as db:
            expected = [(column, ["domain", column, "recorded_at", "id"]) for column, _ in cases]
            expected.append((None, ["domain", "recorded_at", "id"]))
            for (column, columns), (sql, args) in zip(expected, statements + plain, strict=True):
                plan = [dict(zip(PLAN_COLUMNS, row)) for row in await db.fetch("EXPLAIN " + sql, args)]
                (row,) = plan
                assert row["type"] == "range" and await index_columns(db, row["key"]) == columns, (sql, plan)
                extra = " ".join(str(v) for v in (await db.fetch("EXPLAIN " + sql, args))[0][len(PLAN_COLUMNS):])
                assert "filesort" not in extra.lower(), (sql, extra)
        bobs = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=300,
                                                    filter=Term("recipient", " BOB@EXAMPLE.ORG ")))
        assert len(bobs) == 4 and all(e.recipient == "Bob@example.org" for e in bobs)
    finally:
        await storage.stop()


async def test_migration_keys_existing_events(mariadb_url, tmp_path):  # noqa: F811
    """Events stored before migration 6 get their recipient key (Unicode folded), compared byte
    for byte: ``bób`` is not ``bob``."""
    import shutil

    from postgate_mysql.storage import MIGRATIONS

    old = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, old)
    (target,) = old.rglob("6_*_event_search_indexes.py")
    target.unlink()
    storage = MysqlStorage(None, db_url=mariadb_url, maxsize=2)
    storage.migrations = old
    await storage.migrate()
    await storage.start()
    try:
        async with storage.session(write=True) as db:
            for i, recipient in enumerate([" Ann@Example.ORG", "ÉVE@Example.org", "bób@example.org", None]):
                await db.execute(
                    "INSERT INTO events (event_id, domain, recorded_at, event, recipient, tags, "
                    "tags_search, payload) VALUES (?, ?, ?, 'delivered', ?, '[]', '', '{}')",
                    (f"e{i}", DOMAIN, 1_000_000 * (i + 1), recipient))
        shutil.copy(MIGRATIONS / target.relative_to(old), target)
        assert await storage.migrate() == [target.name]
        async with storage.session() as db:
            rows = await db.fetch("SELECT recipient_key FROM events ORDER BY id")
        assert [r[0] for r in rows] == ["ann@example.org", "éve@example.org", "bób@example.org", None]
        for sought, expected in (("ÉVE@EXAMPLE.ORG", ["e1"]), ("bob@example.org", []), ("BÓB@example.org", ["e2"])):
            found = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True, live=True,
                                                         filter=Term("recipient", sought)))
            assert [e.event_id for e in found] == expected, sought
    finally:
        await storage.stop()
