"""The statements :meth:`TortoiseStorage.page_events` runs, for tests that EXPLAIN them."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Any

from ..domain import And, EventQuery, Term
from ..storage.tortoise_storage import TortoiseStorage

#: Filtered pages that must read the recipient's or the message's own index.
SEARCH_FILTERS = {
    "recipient_key": (Term("recipient", " Bob@Example.ORG "),
                      And((Term("event", "delivered"), Term("recipient", "bob@example.org")))),
    "message_id": (Term("message-id", "m7@x"),
                   And((Term("severity", "permanent"), Term("message-id", "m7@x")))),
}


async def page_statements(storage: TortoiseStorage,
                          queries: Sequence[EventQuery]) -> list[tuple[str, list[Any]]]:
    """Run ``queries`` through ``storage.page_events``; return each page SELECT and its arguments."""
    statements: list[tuple[str, list[Any]]] = []
    session = storage.session

    @asynccontextmanager
    async def recording(write: bool = False):  # type: ignore[no-untyped-def]
        async with session(write) as db:
            fetch = db.fetch

            async def fetch_and_record(sql: str, args: Sequence[Any] = ()) -> Any:
                if sql.startswith("SELECT id, event_id"):
                    statements.append((sql, list(args)))
                return await fetch(sql, args)

            db.fetch = fetch_and_record  # type: ignore[method-assign]
            yield db

    storage.session = recording  # type: ignore[method-assign]
    pages: list[tuple[str, list[Any]]] = []
    try:
        for query in queries:
            del statements[:]
            await storage.page_events(query)
            # A page that closes a second to writers reads itself again under their lock (the
            # same statement): one per page, so the pages line up with their queries.
            (first, *again) = statements
            assert all(read == first for read in again), statements
            pages.append(first)
    finally:
        del storage.session
    return pages


def search_queries(domain: str, after: tuple[int, int] | None = None) -> list[tuple[str, EventQuery]]:
    """Each search filter as an ascending and a descending page (the index column expected first)."""
    return [
        (column, EventQuery(domain=domain, ascending=ascending, limit=300, filter=node, after=after))
        for column, nodes in SEARCH_FILTERS.items() for node in nodes for ascending in (True, False)
    ]
