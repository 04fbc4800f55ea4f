"""Events searched by recipient or message id read that column's index on SQLite (issue 9)."""

from __future__ import annotations

import shutil
from pathlib import Path

from postgate.builtin.sqlite_storage import sqlite_storage
from postgate.domain import EventQuery, Term
from postgate.testing.event_plans import page_statements, search_queries
from postgate.testing.storage_contract import event

DOMAIN = "search.example.com"


async def seed(storage) -> None:
    for part in range(4):
        await storage.save_events([
            event(domain=(DOMAIN, "other.example.com")[part % 2], recipient=f"R{i % 40}@Example.org",
                  message_id=f"m{i % 30}@x", kind=("delivered", "failed")[i % 2])
            for i in range(300)
        ] + [event(domain=DOMAIN, recipient="Bob@example.org", message_id="m7@x")])


async def test_search_pages_read_the_column_index(tmp_path):
    """Each recipient / message-id page (with and without a cursor, both directions) is a SEARCH
    of the (domain, column, recorded_at, id) index with no temporary sort; the plain page still
    reads (domain, recorded_at, id)."""
    storage = sqlite_storage(tmp_path / "plan.sqlite3")
    await storage.migrate()
    await storage.start()
    try:
        await seed(storage)
        first = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=10))
        cursor = (first[-1].recorded_at, first[-1].id)
        cases = search_queries(DOMAIN) + search_queries(DOMAIN, after=cursor)
        statements = await page_statements(storage, [query for _, query in cases])
        plain = await page_statements(storage, [EventQuery(domain=DOMAIN, ascending=True, after=cursor)])
        async with storage.session() as db:
            for (column, _), (sql, args) in zip(cases, statements, strict=True):
                plan = " | ".join(str(r[3]) for r in await db.fetch("EXPLAIN QUERY PLAN " + sql, args))
                assert plan.startswith("SEARCH events USING INDEX idx_events_domain") \
                    and f"domain=? AND {column}=?" in plan and "TEMP B-TREE" not in plan, (sql, plan)
            sql, args = plain[0]
            plan = " | ".join(str(r[3]) for r in await db.fetch("EXPLAIN QUERY PLAN " + sql, args))
            assert "(domain=? AND recorded_at" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        await storage.stop()


async def test_search_pages_match_the_recipient_case_folded(tmp_path):
    """The indexed search finds what the filter means: recipients trimmed and case-folded
    (Unicode too), message ids exact, pages in (recorded_at, id) order."""
    storage = sqlite_storage(tmp_path / "match.sqlite3")
    await storage.migrate()
    await storage.start()
    try:
        await seed(storage)
        await storage.save_events([event(domain=DOMAIN, recipient="ÉVE@Example.org", message_id="u@x")])
        bobs = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=300,
                                                    filter=Term("recipient", " BOB@EXAMPLE.ORG ")))
        assert len(bobs) == 4 and all(e.recipient == "Bob@example.org" for e in bobs)
        assert [(e.recorded_at, e.id) for e in bobs] == sorted((e.recorded_at, e.id) for e in bobs)
        eve = await storage.page_events(EventQuery(domain=DOMAIN, ascending=False, limit=5,
                                                   filter=Term("recipient", "éve@example.org")))
        assert [e.recipient for e in eve] == ["ÉVE@Example.org"]
        m7 = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=300,
                                                  filter=Term("message-id", "m7@x")))
        assert len(m7) == 2 * 10 + 4 and {e.message_id for e in m7} == {"m7@x"}
    finally:
        await storage.stop()


async def test_migration_keys_existing_events(tmp_path):
    """Events stored before the migration get their recipient key (Unicode folded too)."""
    history = Path(sqlite_storage(tmp_path / "x.sqlite3").migrations)
    old = tmp_path / "old"
    shutil.copytree(history, old)
    (new_file,) = old.rglob("5_*_event_search_indexes.py")
    new_file.unlink()
    target = new_file
    storage = sqlite_storage(tmp_path / "old.sqlite3")
    storage.migrations = old
    await storage.migrate()
    await storage.start()
    try:
        async with storage.session(write=True) as db:
            for i, recipient in enumerate([" Ann@Example.ORG", "ÉVE@Example.org", None]):
                await db.execute(
                    "INSERT INTO events (event_id, domain, recorded_at, event, recipient, tags, "
                    "tags_search, payload) VALUES (?, ?, ?, 'delivered', ?, '[]', '', '{}')",
                    (f"e{i}", DOMAIN, 1_000_000 * (i + 1), recipient))
        shutil.copy(history / target.relative_to(old), target)
        assert await storage.migrate() == [new_file.name]
        async with storage.session() as db:
            rows = await db.fetch("SELECT recipient_key FROM events ORDER BY id")
        assert [r[0] for r in rows] == ["ann@example.org", "éve@example.org", None]
        found = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True, live=True,
                                                     filter=Term("recipient", "ÉVE@EXAMPLE.ORG")))
        assert [e.event_id for e in found] == ["e1"]
    finally:
        await storage.stop()
