"""Page tokens of the events API: the whole query plus a keyset cursor, as unpadded base64url.

A token is the JSON array ``[1, domain, ascending, begin, end, [[field, expression], …], limit,
reverse, cursor]`` encoded with the alphabet ``[A-Za-z0-9_-]``, so it survives as the last path
segment (mailgun.js keeps what follows the last ``/``). Times are microseconds since the epoch.

``ascending``/``begin``/``end`` describe the query's range and the order items are shown in.
``reverse`` pages walk the range the other way from ``cursor`` (``previous`` and ``last``) and are
shown in the query's order again. ``cursor`` is ``(recorded_at, id)`` of the event the page starts
strictly after, in the direction it is walked. No signature is needed: a token only ever reads the
domain of the path it is used on, which authentication has already checked.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..domain import Event, EventQuery, Filter, ServedEvent
from ..errors import BadRequest
from ..limits import load_json
from .filters import FILTER_FIELDS, MAX_FILTER_PARAMS, all_of, parse_filter

VERSION = 1
MAX_LIMIT = 300
#: Tokens longer than this are refused when made (mailgun.js and proxies cope with ~2 kB paths).
MAX_TOKEN = 2000
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,4096}$")

INVALID_TOKEN = "invalid page token"
#: Largest integer a token may carry (times in microseconds, ids): what a SQL BIGINT holds.
MAX_TOKEN_INT = 2**63 - 1
#: Latest begin/end a token may carry, in microseconds (the events API's own bound, year 5138).
MAX_TOKEN_TIME = 10**17


@dataclass(frozen=True, slots=True)
class PageState:
    """One page request: the query it belongs to and where in it the page starts."""

    domain: str
    ascending: bool
    begin: int | None
    end: int | None
    filters: tuple[tuple[str, str], ...]
    limit: int
    reverse: bool = False
    cursor: tuple[int, int] | None = None

    # -- the storage query ------------------------------------------------------------------

    def filter(self) -> Filter | None:
        """The parsed filter: every field's expression ANDed."""
        return all_of(parse_filter(name, text) for name, text in self.filters)

    def query(self) -> EventQuery:
        """The storage query for this page (the range walked backwards when ``reverse``)."""
        begin, end = self.begin, self.end
        if self.reverse:
            # The same set of times walked the other way. Bounds are integers, so "t < end"
            # becomes "t <= end - 1" (inclusive) and "t >= begin" becomes "t > begin - 1".
            step = -1 if self.ascending else 1
            begin = None if self.end is None else self.end + step
            end = None if self.begin is None else self.begin + step
        return EventQuery(
            domain=self.domain,
            ascending=self.ascending != self.reverse,
            begin=begin,
            end=end,
            filter=self.filter(),
            limit=self.limit,
            after=self.cursor,
        )

    # -- links ------------------------------------------------------------------------------

    def links(self, items: Sequence[Event | ServedEvent]) -> dict[str, PageState]:
        """``previous``, ``first``, ``last`` and ``next`` of a page showing ``items`` (in order).

        ``next`` of an empty forward page keeps its cursor (it stays empty until newer events
        arrive); ``previous`` of an empty forward page is the last page, which ends where it is.
        """
        first = replace(self, reverse=False, cursor=None)
        last = replace(self, reverse=True, cursor=None)
        if items:
            previous = replace(self, reverse=True, cursor=_key(items[0]))
            following = replace(self, reverse=False, cursor=_key(items[-1]))
        elif self.reverse:
            previous, following = self, first
        else:
            previous, following = last, self
        return {"previous": previous, "first": first, "last": last, "next": following}

    # -- token ------------------------------------------------------------------------------

    def encode(self) -> str:
        """The page token (raises 400 when the query is too large to fit in one)."""
        data = [
            VERSION,
            self.domain,
            int(self.ascending),
            self.begin,
            self.end,
            [list(pair) for pair in self.filters],
            self.limit,
            int(self.reverse),
            list(self.cursor) if self.cursor is not None else None,
        ]
        raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
        if len(token) > MAX_TOKEN:
            raise BadRequest("query too large: shorten the filter expressions")
        return token

    @classmethod
    def decode(cls, token: str, domain: str) -> PageState:
        """Read a token made by :meth:`encode` for ``domain``; anything else is a 400."""
        if not TOKEN_SHAPE.match(token):
            raise BadRequest(INVALID_TOKEN)
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = load_json(raw, max_bytes=MAX_TOKEN * 2, max_depth=3)
        except (binascii.Error, ValueError):
            raise BadRequest(INVALID_TOKEN) from None
        state = _from_list(data)
        if state is None:
            raise BadRequest(INVALID_TOKEN)
        if state.domain != domain.lower():
            raise BadRequest("page token belongs to another domain")
        state.filter()  # a token whose expressions do not parse is refused here, with the reason
        return state


def _key(event: Event | ServedEvent) -> tuple[int, int]:
    return (int(event.recorded_at or 0), int(event.id or 0))


def _is_int(value: Any) -> bool:
    """A non-negative integer that fits a SQL BIGINT (a larger one would overflow the driver)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_INT


def _is_flag(value: Any) -> bool:
    return _is_int(value) and value in (0, 1)


def _from_list(data: Any) -> PageState | None:
    """A :class:`PageState` from a decoded token, or ``None`` if its shape is wrong."""
    if not isinstance(data, list) or len(data) != 9 or data[0] != VERSION:
        return None
    _, domain, ascending, begin, end, filters, limit, reverse, cursor = data
    if not isinstance(domain, str) or not _is_flag(ascending) or not _is_flag(reverse):
        return None
    if any(value is not None and not (_is_int(value) and value <= MAX_TOKEN_TIME) for value in (begin, end)):
        return None
    if not _is_int(limit) or not 1 <= limit <= MAX_LIMIT:
        return None
    if not isinstance(filters, list) or len(filters) > MAX_FILTER_PARAMS or not all(
        isinstance(pair, list) and len(pair) == 2 and pair[0] in FILTER_FIELDS and isinstance(pair[1], str)
        for pair in filters
    ):
        return None
    if cursor is not None and not (
        isinstance(cursor, list) and len(cursor) == 2 and all(_is_int(v) for v in cursor)
    ):
        return None
    return PageState(
        domain=domain,
        ascending=bool(ascending),
        begin=begin,
        end=end,
        filters=tuple((name, text) for name, text in filters),
        limit=limit,
        reverse=bool(reverse),
        cursor=(cursor[0], cursor[1]) if cursor is not None else None,
    )
