"""Drill-down reads of stored events: what the storage can select by the events API's filter
terms, newest first, kept or left by a test in Python, with a bound on the reads one page makes
(a page then hands out a cursor to go on from); and the keyset cursor such pages put in their
links (``?after=`` / ``?before=``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Union

from postgate import And, Event, EventQuery, Not, Or, Term

#: A storage filter of the events API's terms (the core's own alias is not public API).
Filter = Union[Term, And, Or, Not]

#: A keyset cursor in a page link: two numbers joined by ``-`` (an event's ``recorded_at-id``,
#: a send's ``first_at-id``).
CURSOR = re.compile(r"(\d{1,19})-(\d{1,19})", re.ASCII)

#: The largest number a cursor may carry (a signed 64-bit column's; past it the storage would fail).
CURSOR_MAX = 2**63 - 1

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


def parse_cursor(text: str | None, error: type[ValueError], start_again: str) -> tuple[int, int] | None:
    """The keyset cursor of a page link (``None`` for the first page). A damaged one raises the
    page's own ``error`` (which its route answers with 400), telling the reader to
    ``start_again``."""
    if not text:
        return None
    match = CURSOR.fullmatch(text)
    if match is None or int(match[1]) > CURSOR_MAX or int(match[2]) > CURSOR_MAX:
        raise error(f"the page link is damaged; {start_again}")
    return int(match[1]), int(match[2])
