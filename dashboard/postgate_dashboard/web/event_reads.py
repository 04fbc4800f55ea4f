"""Drill-down reads of stored events: what the storage can select by the events API's filter
terms, newest first, kept or left by a test in Python, with a bound on the reads one page makes
(a page then hands out a cursor to go on from)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from postgate import And, Event, EventQuery, Not, Or, Term

#: A storage filter of the events API's terms (the core's own alias is not public API).
Filter = Union[Term, And, Or, Not]

#: Events read per storage page while looking for the rows of a drill-down.
READ_STEP = 500
#: Storage pages one drill-down page reads at most before it hands out a cursor to go on.
MAX_READS = 20


async def matching_events(gateway: Any, domain: str, begin: int | None, end: int | None, storage_filter: Filter,
                          keep: Callable[[Event], bool], after: tuple[int, int] | None,
                          want: int) -> tuple[list[Event], tuple[int, int] | None]:
    """Up to ``want`` events that ``storage_filter`` selects and ``keep`` keeps, newest first,
    from after ``after`` (``begin`` and ``end`` as in :class:`EventQuery`, descending); and where to
    go on (``None`` once everything is read). Reads at most :data:`MAX_READS` pages."""
    found: list[Event] = []
    for _ in range(MAX_READS):
        page = await gateway.storage.page_events(EventQuery(
            domain=domain, ascending=False, begin=begin, end=end, filter=storage_filter, limit=READ_STEP,
            after=after))
        for event in page:
            after = (event.recorded_at, event.id)
            if keep(event):
                found.append(event)
                if len(found) == want:
                    return found, after
        if len(page) < READ_STEP:
            return found, None
    return found, after
