"""What the views read: a handful of indexed reads of the roll-ups, never a scan of the events.

Times are epoch seconds (UTC); a period is ``[start, end)`` and is widened to whole hours.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .derive import DAILY, DOMAIN, HOUR, MONTHLY, PROVIDER, SEND, TAG
from .providers import LABELS
from .rates import rates

Resolution = Literal["hour", "day", "month"]
DAY = 24 * HOUR
#: Longest page of the sends list.
MAX_PAGE = 500


@dataclass(slots=True)
class Overview:
    """Counts of a period: ``series[kind][i]`` is the count in ``buckets[i]`` (bucket starts)."""

    buckets: list[int]
    series: dict[str, list[int]]
    totals: dict[str, int]
    rates: dict[str, float | None]


@dataclass(slots=True)
class SendRow:
    domain: str
    send_key: str
    email_id: str | None
    subject: str
    tags: list[str]
    first_at: int
    last_at: int
    counts: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float | None] = field(default_factory=dict)
    id: int = 0

    @property
    def funnel(self) -> list[tuple[str, int]]:
        """Accepted, delivered, opened, clicked (each recipient once)."""
        c = self.counts
        return [("accepted", c.get("accepted", 0)), ("delivered", c.get("delivered", 0)),
                ("opened", c.get("opened_unique", 0)), ("clicked", c.get("clicked_unique", 0))]


@dataclass(slots=True)
class SendsPage:
    items: list[SendRow]
    #: Pass as ``before`` for the next (older) page; ``None`` on the last page.
    next_cursor: tuple[int, int] | None


@dataclass(slots=True)
class ProviderRow:
    provider: str
    label: str
    counts: dict[str, int]
    rates: dict[str, float | None]


class _Reader:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.mysql = db.capabilities.dialect == "mysql"

    async def rows(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        return await self.db.execute_query_dict(sql.replace("%", "%%").replace("?", "%s") if self.mysql else sql, list(args))


@asynccontextmanager
async def _reading(gateway: Any) -> AsyncIterator[_Reader]:
    with gateway.storage.orm() as ctx:
        name = next(iter(ctx.connections.db_config))
        yield _Reader(ctx.connections.get(name))


def _hour_floor(t: float) -> int:
    t = int(t // 1)
    return t - t % HOUR


def _hour_ceil(t: float) -> int:
    floor = _hour_floor(t)
    return floor if floor == t else floor + HOUR


def _month_start(t: int) -> int:
    day = datetime.fromtimestamp(t, UTC)
    return int(datetime(day.year, day.month, 1, tzinfo=UTC).timestamp())


def _next_month(t: int) -> int:
    day = datetime.fromtimestamp(t, UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp())


def bucket_starts(start: int, end: int, resolution: Resolution) -> list[int]:
    """Every bucket start of ``[start, end)`` at ``resolution`` (UTC days and months)."""
    if resolution == "month":
        out, t = [], _month_start(start)
        while t < end:
            out.append(t)
            t = _next_month(t)
        return out
    step = DAY if resolution == "day" else HOUR
    return list(range(start - start % step, end, step))


Level = Literal["hour", "day", "month"]


def _parts(start: int, end: int, months: bool = False) -> list[tuple[Level, int, int]]:
    """``[start, end)`` (whole hours) as ``(level, lo, hi)`` ranges: whole UTC months from the
    monthly rows when ``months``, whole UTC days from the daily rows, the hours at either edge
    from the hourly ones. A year by month is then a dozen rows per kind, plus the days and hours
    of the months it starts and ends in."""
    if months:
        first_month = start if _month_start(start) == start else _next_month(start)
        last_month = _month_start(end)
        if first_month < last_month:
            return [("month", first_month, last_month), *_parts(start, first_month), *_parts(last_month, end)]
    if start >= end:
        return []
    first_day = start if start % DAY == 0 else start - start % DAY + DAY
    last_day = end - end % DAY
    if first_day >= last_day:
        return [("hour", start, end)]
    parts: list[tuple[Level, int, int]] = [("day", first_day, last_day)]
    if start < first_day:
        parts.append(("hour", start, first_day))
    if last_day < end:
        parts.append(("hour", last_day, end))
    return parts


#: The dimension of each level's rows.
_LEVELS = {"day": DAILY, "month": MONTHLY}


async def _sums(db: _Reader, domain: str, dimension: str, values: Sequence[str], start: int, end: int,
                step: int, *, months: bool = False) -> list[dict[str, Any]]:
    """Rows ``(value, b, kind, n)`` of ``[start, end)`` summed by ``step`` (hour or day) buckets;
    with ``months`` whole months come from the monthly rows, their bucket the month's start."""
    marks = ", ".join("?" * len(values))
    out: list[dict[str, Any]] = []
    for level, lo, hi in _parts(start, end, months) if step == DAY else [("hour", start, end)]:
        where = (f"WHERE domain = ? AND dimension = ? AND value IN ({marks}) AND bucket >= ? AND bucket < ?")
        args = (domain, _LEVELS[level][dimension] if level in _LEVELS else dimension, *values, lo, hi)
        if level == "hour" and step == DAY:  # hours added up into their days
            out += await db.rows(f"SELECT value, bucket - bucket % ? AS b, kind, SUM(n) AS n FROM dashboard_counts "
                                 f"{where} GROUP BY value, b, kind", (step, *args))
        else:  # one row per bucket already: read in index order, nothing to add up
            out += await db.rows(f"SELECT value, bucket AS b, kind, n FROM dashboard_counts {where}", args)
    return out


async def _totals(db: _Reader, domain: str, dimension: str, values: Sequence[str], start: int,
                  end: int) -> dict[str, dict[str, int]]:
    """``{value: {kind: n}}`` over ``[start, end)``, added up by the database (a few rows back
    per month, day and hour range, whatever the rows read)."""
    marks = ", ".join("?" * len(values))
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for level, lo, hi in _parts(start, end, months=True):
        rows = await db.rows(
            "SELECT value, kind, SUM(n) AS n FROM dashboard_counts WHERE domain = ? AND dimension = ? "
            f"AND value IN ({marks}) AND bucket >= ? AND bucket < ? GROUP BY value, kind",
            (domain, _LEVELS[level][dimension] if level in _LEVELS else dimension, *values, lo, hi))
        for row in rows:
            out[row["value"]][row["kind"]] += int(row["n"])
    return out


async def totals(gateway: Any, domain: str, start: float, end: float) -> dict[str, int]:
    """A domain's counts over ``[start, end)`` (whole hours), without a series: what a change
    against the previous period and the reputation windows need."""
    async with _reading(gateway) as db:
        found = await _totals(db, domain.lower(), DOMAIN, [""], _hour_floor(start), _hour_ceil(end))
    return dict(found.get("", {}))


#: Most domains or values one ``IN (...)`` list holds.
_IN_CHUNK = 500


async def grouped_sums(gateway: Any, domains: Sequence[str], dimension: str, values: Sequence[str] | None,
                       start: int, end: int, step: int) -> list[dict[str, Any]]:
    """Rows ``(domain, value, b, kind, n)`` of ``domains`` in one slice (``dimension``: domain,
    tag or provider; ``values`` ``None`` for every value) over ``[start, end)`` (whole hours),
    summed by ``step`` (hour or day) buckets: whole UTC days from the daily rows when ``step`` is
    a day. What the metrics API reads; one indexed read per chunk of domains and part."""
    out: list[dict[str, Any]] = []
    domains = sorted({d.lower() for d in domains})
    if not domains or (values is not None and not values):
        return out
    async with _reading(gateway) as db:
        for i in range(0, len(domains), _IN_CHUNK):
            chunk = domains[i:i + _IN_CHUNK]
            for level, lo, hi in _parts(start, end) if step == DAY else [("hour", start, end)]:
                where = f"domain IN ({', '.join('?' * len(chunk))}) AND dimension = ?"
                args: list[Any] = [step, *chunk, DAILY[dimension] if level == "day" else dimension]
                if values is not None:
                    where += f" AND value IN ({', '.join('?' * len(values))})"
                    args += values
                out += await db.rows(
                    "SELECT domain, value, bucket - bucket % ? AS b, kind, SUM(n) AS n FROM dashboard_counts "
                    f"WHERE {where} AND bucket >= ? AND bucket < ? GROUP BY domain, value, b, kind",
                    (*args, lo, hi))
    return out


async def overview(gateway: Any, domain: str, start: float, end: float, resolution: Resolution = "day",
                   *, tag: str | None = None, provider: str | None = None) -> Overview:
    """A domain's counts (or one tag's, or one provider's) over ``[start, end)`` by ``resolution``.

    Hours are exact; a period is widened to whole hours."""
    if resolution not in ("hour", "day", "month"):
        raise ValueError(f"resolution must be hour, day or month, not {resolution!r}")
    first, last = _hour_floor(start), _hour_ceil(end)
    dimension, value = (TAG, tag.lower()) if tag else (PROVIDER, provider) if provider else (DOMAIN, "")
    step = HOUR if resolution == "hour" else DAY
    async with _reading(gateway) as db:
        rows = await _sums(db, domain.lower(), dimension, [value], first, last, step, months=resolution == "month")
    buckets = bucket_starts(first, last, resolution)
    index = {b: i for i, b in enumerate(buckets)}
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(buckets))
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        at = int(row["b"])
        slot = index.get(_month_start(at) if resolution == "month" else at)
        if slot is None:
            continue
        series[row["kind"]][slot] += int(row["n"])
        totals[row["kind"]] += int(row["n"])
    return Overview(buckets, dict(series), dict(totals), rates(totals))


async def _send_counts(db: _Reader, domain: str, keys: list[str]) -> dict[str, dict[str, int]]:
    if not keys:
        return {}
    marks = ", ".join("?" * len(keys))
    rows = await db.rows(
        f"SELECT value, kind, n FROM dashboard_counts WHERE domain = ? AND dimension = ? "
        f"AND value IN ({marks}) AND bucket = 0", (domain, SEND, *keys))
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        out[row["value"]][row["kind"]] = int(row["n"])
    return out


_SEND_COLUMNS = "id, domain, send_key, email_id, subject, tags, first_at, last_at"


def _send(row: dict[str, Any], counts: dict[str, int]) -> SendRow:
    try:
        tags = json.loads(row["tags"]) if row["tags"] else []
    except ValueError:
        tags = []
    return SendRow(domain=row["domain"], send_key=row["send_key"], email_id=row["email_id"],
                   subject=row["subject"], tags=tags, first_at=int(row["first_at"]),
                   last_at=int(row["last_at"]), counts=counts, rates=rates(counts), id=int(row["id"]))


async def send_summary(gateway: Any, domain: str, send_key: str) -> SendRow | None:
    """One send (Ghost's email-id, else the message id) with its counts, funnel and rates."""
    domain = domain.lower()
    async with _reading(gateway) as db:
        rows = await db.rows(f"SELECT {_SEND_COLUMNS} FROM dashboard_sends WHERE domain = ? AND send_key = ?",
                             (domain, send_key))
        if not rows:
            return None
        counts = await _send_counts(db, domain, [send_key])
    return _send(rows[0], counts.get(send_key, {}))


async def sends(gateway: Any, domain: str, *, limit: int = 25,
                before: tuple[int, int] | None = None) -> SendsPage:
    """The sends of a domain, newest first (by first event), ``limit`` at a time, with counts."""
    domain = domain.lower()
    limit = max(1, min(int(limit), MAX_PAGE))
    where, args = "domain = ?", [domain]
    if before is not None:
        where += " AND (first_at < ? OR (first_at = ? AND id < ?))"
        args += [before[0], before[0], before[1]]
    async with _reading(gateway) as db:
        rows = await db.rows(
            f"SELECT {_SEND_COLUMNS} FROM dashboard_sends WHERE {where} "
            "ORDER BY first_at DESC, id DESC LIMIT ?", (*args, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        counts = await _send_counts(db, domain, [row["send_key"] for row in rows])
    items = [_send(row, counts.get(row["send_key"], {})) for row in rows]
    cursor = (items[-1].first_at, items[-1].id) if more and items else None
    return SendsPage(items, cursor)


async def by_provider(gateway: Any, domain: str, start: float, end: float) -> list[ProviderRow]:
    """Counts and rates per mailbox provider over ``[start, end)``, in :data:`LABELS` order."""
    first, last = _hour_floor(start), _hour_ceil(end)
    providers = list(LABELS)
    async with _reading(gateway) as db:
        counts = await _totals(db, domain.lower(), PROVIDER, providers, first, last)
    return [ProviderRow(p, LABELS[p], dict(counts[p]), rates(counts[p])) for p in providers if counts.get(p)]


@dataclass(slots=True)
class LinkRow:
    url: str
    url_key: str
    clicks: int
    unique: int
    #: Of every URL-bearing click of the send (of the same who), ``None`` when there are none.
    share: float | None


#: Link kinds by who: (clicks, unique clickers).
LINK_KINDS = {"all": ("clicked", "clicked_unique"), "human": ("clicked_human", "clicked_unique_human")}


async def top_links(gateway: Any, domain: str, send_key: str, *, who: str = "human",
                    limit: int = 10) -> list[LinkRow]:
    """The most-clicked links of one send (``who``: ``human`` leaves out clicks a bot made), with
    their unique clickers and share of the send's link clicks: three indexed reads."""
    clicks_kind, unique_kind = LINK_KINDS[who]
    domain = domain.lower()
    async with _reading(gateway) as db:
        top = await db.rows(
            "SELECT url_key, url, n FROM dashboard_links WHERE domain = ? AND send_key = ? AND kind = ? "
            "AND n > 0 ORDER BY n DESC, url_key LIMIT ?", (domain, send_key, clicks_kind, max(1, int(limit))))
        if not top:
            return []
        total = await db.rows(
            "SELECT SUM(n) AS n FROM dashboard_links WHERE domain = ? AND send_key = ? AND kind = ?",
            (domain, send_key, clicks_kind))
        marks = ", ".join("?" * len(top))
        uniques = await db.rows(
            f"SELECT url_key, n FROM dashboard_links WHERE domain = ? AND send_key = ? AND kind = ? "
            f"AND url_key IN ({marks})", (domain, send_key, unique_kind, *[row["url_key"] for row in top]))
    all_clicks = int(total[0]["n"] or 0)
    unique = {row["url_key"]: int(row["n"]) for row in uniques}
    return [LinkRow(row["url"], row["url_key"], int(row["n"]), unique.get(row["url_key"], 0),
                    int(row["n"]) / all_clicks if all_clicks else None) for row in top]


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failures of one type, SMTP code, enhanced status code and provider in a period."""

    kind: str
    code: str
    enhanced: str
    provider: str
    n: int


async def failure_groups(gateway: Any, domain: str, start: float, end: float) -> list[FailureGroup]:
    """Every failure group of ``[start, end)`` (whole hours; whole days from the daily rows), the
    largest first."""
    first, last = _hour_floor(start), _hour_ceil(end)
    sums: dict[tuple[str, str, str, str], int] = defaultdict(int)
    async with _reading(gateway) as db:
        for level, lo, hi in _parts(first, last):
            rows = await db.rows(
                "SELECT kind, code, enhanced, provider, SUM(n) AS n FROM dashboard_failures "
                "WHERE domain = ? AND daily = ? AND bucket >= ? AND bucket < ? "
                "GROUP BY kind, code, enhanced, provider", (domain.lower(), level == "day", lo, hi))
            for row in rows:
                sums[(row["kind"], row["code"], row["enhanced"], row["provider"])] += int(row["n"])
    groups = [FailureGroup(*key, n) for key, n in sums.items() if n]
    return sorted(groups, key=lambda g: (-g.n, g.kind, g.code, g.enhanced, g.provider))
