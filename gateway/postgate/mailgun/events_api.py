"""``GET /v3/{domain}/events`` and ``GET /v3/{domain}/events/{token}`` (contract §3).

Time range: ``begin`` is inclusive and ``end`` exclusive; the direction comes from ``begin`` vs
``end``, and ``ascending`` must agree with it when both are given. Without ``end``, where Mailgun
demands ``ascending``, Postgate defaults it: ascending when ``begin`` is given (read forward from
there, the range left open so ``next`` later returns newer events), descending when it is not
(newest first, Mailgun's default listing).

A token in the path wins over every query parameter: mailgun.js re-sends the first request's
parameters with each page, and they must not restart the traversal. ``page`` is ignored
(mailgun.js 10 sends ``page=undefined``).

Event times are whole seconds of the storage's clock at recording, and a second a reader has been
shown is closed to later events (see ``TortoiseStorage.page_events``), so no cut-off a client has
moved past can gain an event. A bounded query (Ghost always sends ``end`` = its now − 1 minute)
only returns events older than the caller's job start, as long as the two clocks agree to within
that minute.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation

from quart import current_app, g, jsonify, request
from werkzeug.datastructures import MultiDict

from ..errors import BadRequest
from ..event_json import dumps
from ..web import current_gateway
from .events_paging import MAX_LIMIT, PageState
from .filters import FILTER_FIELDS, MAX_FILTER_PARAMS, UNSUPPORTED_FIELDS, all_of, parse_filter
from .parsing import NUMBER, base_url, parse_bool, parse_date

DEFAULT_LIMIT = 100
#: Latest time accepted for begin/end (year 5138): keeps microsecond values in 64 bits.
MAX_SECONDS = 10**11
ABSENT = ("", "undefined", "null")


def add_routes(bp) -> None:
    """Add the events routes to the Mailgun blueprint."""
    bp.add_url_rule("/v3/<domain>/events", "events_list", events_list, methods=["GET"])
    bp.add_url_rule("/v3/<domain>/events/<token>", "events_page", events_page, methods=["GET"])


async def events_list(domain: str):
    """First page of a query given by the query string."""
    return await _answer(parse_query(request.args, g.domain))


async def events_page(domain: str, token: str):
    """A page named by its token; re-sent query parameters are ignored."""
    return await _answer(PageState.decode(token, g.domain))


async def _answer(state: PageState):
    storage = current_gateway().storage
    items = await storage.page_served_events(state.query())
    if state.reverse:
        items.reverse()
    prefix = f"{base_url()}/v3/{state.domain}/events/"
    paging = {name: prefix + page.encode() for name, page in state.links(items).items()}
    provider = current_app.json
    if provider.compact is False or (provider.compact is None and current_app.debug):  # type: ignore[attr-defined]
        return jsonify({"items": [json.loads(item.json) for item in items], "paging": paging})
    # The items' text spliced into what jsonify would write (compact, one trailing newline).
    body = f'{{"items":[{",".join(item.json for item in items)}],"paging":{dumps(paging)}}}\n'
    return current_app.response_class(body, mimetype=provider.mimetype)  # type: ignore[attr-defined]


def parse_query(args: MultiDict[str, str], domain: str) -> PageState:
    """The first page of the query in ``args`` (a request's query string)."""
    begin = _time(args.get("begin"), "begin")
    end = _time(args.get("end"), "end")
    ascending = _ascending(args.get("ascending"))
    if begin is not None and end is not None:
        natural = begin <= end if begin != end else (True if ascending is None else ascending)
        if ascending is not None and ascending != natural:
            raise BadRequest("'ascending' contradicts the order of 'begin' and 'end'")
        ascending = natural
    elif ascending is None:
        ascending = begin is not None
    filters = []
    for name in args:
        if name in UNSUPPORTED_FIELDS:
            raise BadRequest(f"filtering on '{name}' is not supported")
        if name not in FILTER_FIELDS:
            continue
        for text in args.getlist(name):
            if text.strip() in ABSENT:
                continue
            if len(filters) >= MAX_FILTER_PARAMS:
                raise BadRequest(f"too many filter parameters: at most {MAX_FILTER_PARAMS}")
            filters.append((name, text))
    all_of(parse_filter(name, text) for name, text in filters)  # each valid, and few enough terms
    return PageState(
        domain=domain.lower(),
        ascending=ascending,
        begin=begin,
        end=end,
        filters=tuple(filters),
        limit=_limit(args.get("limit")),
    )


def _time(value: str | None, name: str) -> int | None:
    """``begin``/``end`` in microseconds: epoch seconds (fractions kept exactly) or RFC 2822."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    try:
        seconds = Decimal(text) if NUMBER.match(text) else Decimal(parse_date(text))
    except (ValueError, InvalidOperation, OverflowError):
        raise BadRequest(f"invalid {name}") from None
    if not 0 <= seconds < MAX_SECONDS:
        raise BadRequest(f"invalid {name}")
    return int((seconds * 1_000_000).to_integral_value())


def _ascending(value: str | None) -> bool | None:
    if value is None or value.strip() in ABSENT:
        return None
    return bool(parse_bool(value, field="ascending"))


def _limit(value: str | None) -> int:
    if value is None or value.strip() in ABSENT:
        return DEFAULT_LIMIT
    try:
        number = float(value)
    except ValueError:
        raise BadRequest("invalid limit") from None
    if not math.isfinite(number) or number < 1:
        raise BadRequest("invalid limit")
    return min(int(number), MAX_LIMIT)
