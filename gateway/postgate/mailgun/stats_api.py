"""``GET /v3/{domain}/stats/total`` and the account-wide ``GET /v3/stats/total`` (contract §5).

``event`` is required and repeatable. The range defaults to the last 7 days; ``duration``
(``24h``, ``7d``, ``2m``; a month counts as 30 days) overrides ``start``. Buckets are aligned to
the resolution in UTC and run from the bucket holding ``start`` to the one holding ``end``, both
included, so the current hour/day/month is always the last entry.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Sequence
from typing import Any

from quart import g, jsonify, request

from ..domain import EventCount
from ..errors import BadRequest
from ..web import current_gateway
from .parsing import format_date, parse_date, query_arg

STAT_EVENTS = ("accepted", "delivered", "failed", "opened", "clicked", "unsubscribed", "complained", "stored")
RESOLUTIONS = {"hour": 3600, "day": 86400, "month": 86400}  # months are summed from days
#: ``duration``: a count (at most 7 digits) and a unit; the bucket limit then bounds the span.
DURATION = re.compile(r"^(\d{1,7})([hdm])$")
DURATION_SECONDS = {"h": 3600, "d": 86400, "m": 30 * 86400}
DEFAULT_SPAN = 7 * 86400
MAX_BUCKETS = 10_000
PERMANENT_REASONS = ("bounce", "delayed-bounce", "suppress-bounce", "suppress-unsubscribe", "suppress-complaint")


def add_routes(bp) -> None:
    """Add the stats routes to the Mailgun blueprint."""
    bp.add_url_rule("/v3/<domain>/stats/total", "stats_total", stats_total, methods=["GET"])
    bp.add_url_rule("/v3/stats/total", "account_stats_total", account_stats_total, methods=["GET"])


async def stats_total(domain: str):
    return jsonify(await stats_body([g.domain]))


async def account_stats_total():
    """The same totals summed over every domain the caller's key may use."""
    return jsonify(await stats_body(list(g.allowed_domains)))


async def stats_body(domains: Sequence[str], tag: str | None = None) -> dict[str, Any]:
    """The §5 body for the current request's query string, counted over ``domains``."""
    events = requested_events(request.args.getlist("event"))
    resolution = (query_arg("resolution") or "day").lower()
    if resolution not in RESOLUTIONS:
        raise BadRequest(f"invalid resolution: {resolution}")
    start, end = time_range(query_arg("start"), query_arg("end"), query_arg("duration"), time.time())
    buckets = bucket_starts(start, end, resolution)
    step = RESOLUTIONS[resolution]
    stop = next_bucket(buckets[-1], resolution)
    storage = current_gateway().storage
    counts: list[EventCount] = []
    for name in domains:
        counts.extend(await storage.count_events(name, events, buckets[0], stop, step, tag=tag))
    by_bucket: dict[float, list[EventCount]] = {bucket: [] for bucket in buckets}
    for count in counts:
        by_bucket[bucket_of(count.bucket, resolution)].append(count)
    return {
        "start": format_date(buckets[0]),
        "end": format_date(buckets[-1]),
        "resolution": resolution,
        "stats": [stats_entry(bucket, events, rows) for bucket, rows in by_bucket.items()],
    }


def requested_events(values: Sequence[str]) -> list[str]:
    """The ``event`` parameters, deduplicated in order (commas also separate)."""
    events: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip().lower()
            if not name or name in ("undefined", "null"):
                continue
            if name not in STAT_EVENTS:
                raise BadRequest(f"invalid event type: {name}")
            if name not in events:
                events.append(name)
    if not events:
        raise BadRequest("'event' parameter is missing")
    return events


def time_range(start: str | None, end: str | None, duration: str | None, now: float) -> tuple[float, float]:
    """``(start, end)`` in epoch seconds from the query parameters."""
    end_ts = _date(end, "end") if end else now
    if duration:
        match = DURATION.match(duration.strip())
        if match is None:
            raise BadRequest(f"invalid duration: {duration}")
        start_ts = end_ts - int(match.group(1)) * DURATION_SECONDS[match.group(2)]
    elif start:
        start_ts = _date(start, "start")
    else:
        start_ts = end_ts - DEFAULT_SPAN
    if start_ts > end_ts:
        raise BadRequest("'start' must not be after 'end'")
    if start_ts < 0:
        raise BadRequest("'start' is before the epoch: shorten 'duration'")
    return start_ts, end_ts


def _date(value: str, name: str) -> float:
    try:
        return parse_date(value)
    except (ValueError, OverflowError):
        raise BadRequest(f"invalid {name}: {value}") from None


def bucket_of(ts: float, resolution: str) -> float:
    """Start of the bucket holding ``ts`` (UTC)."""
    if resolution == "month":
        t = time.gmtime(ts)
        return float(calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0)))
    step = RESOLUTIONS[resolution]
    return float(int(ts // step) * step)


def next_bucket(bucket: float, resolution: str) -> float:
    """Start of the bucket after ``bucket`` (past December 9999 too: the calendar is arithmetic)."""
    if resolution == "month":
        t = time.gmtime(bucket)
        return bucket + calendar.monthrange(t.tm_year, t.tm_mon)[1] * 86400
    return bucket + RESOLUTIONS[resolution]


def bucket_starts(start: float, end: float, resolution: str) -> list[float]:
    """Every bucket from the one holding ``start`` to the one holding ``end``."""
    first, last = bucket_of(start, resolution), bucket_of(end, resolution)
    if (last - first) / RESOLUTIONS[resolution] >= MAX_BUCKETS:
        raise BadRequest(f"time range too long for resolution {resolution}")
    buckets = [first]
    while buckets[-1] < last:
        buckets.append(next_bucket(buckets[-1], resolution))
    return buckets


def stats_entry(bucket: float, events: Sequence[str], rows: Sequence[EventCount]) -> dict[str, Any]:
    """One ``stats`` item: the requested event types counted in one bucket."""
    entry: dict[str, Any] = {"time": format_date(bucket)}
    for name in events:
        mine = [row for row in rows if row.event == name]
        total = sum(row.count for row in mine)
        if name == "accepted":
            entry[name] = {"outgoing": total, "incoming": 0, "total": total}
        elif name == "delivered":
            entry[name] = {"smtp": total, "http": 0, "total": total}
        elif name == "failed":
            entry[name] = _failed(mine)
        else:
            entry[name] = {"total": total}
    return entry


def _failed(rows: Sequence[EventCount]) -> dict[str, Any]:
    permanent = {reason: 0 for reason in PERMANENT_REASONS}
    permanent["total"] = 0
    temporary = {"espblock": 0, "total": 0}
    for row in rows:
        # Ghost treats a failure without severity as temporary; so do the stats.
        side = permanent if row.severity == "permanent" else temporary
        if row.reason in side and row.reason != "total":
            side[row.reason] += row.count
        side["total"] += row.count
    return {"permanent": permanent, "temporary": temporary}
