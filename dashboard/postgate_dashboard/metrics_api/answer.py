"""The answer to a metrics query, read from the roll-ups (never from the events).

The period is whole buckets, from the one holding ``start`` to the one holding ``end`` (both
included), as the core's ``/v3/.../stats/total`` counts it, so both APIs agree on the same request.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

from postgate.errors import BadRequest
from postgate.mailgun.parsing import MAX_TIMESTAMP
from postgate.mailgun.stats_api import bucket_of, bucket_starts, next_bucket

from ..rollups.derive import DAY, DOMAIN, HOUR, PROVIDER, TAG
from ..rollups.mailgun_metrics import metric_values
from ..rollups.providers import LABELS
from ..rollups.queries import grouped_sums
from .body import MetricsQuery

#: Roll-up slice of each dimension or filter attribute other than time and domain.
SLICES = {"tag": TAG, "recipient_provider": PROVIDER}

Key = tuple[Any, ...]
#: Most items one answer is built from (time buckets times the other dimensions' values).
MAX_ITEMS = 100_000


def rfc2822(ts: float) -> str:
    """A date the way Mailgun's metrics API writes it: ``Wed, 01 Nov 2023 00:00:00 +0000`` (also
    the end of a bucket ending in year 10000, which ``datetime`` cannot hold)."""
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ts))


def bucket_end(bucket: float, resolution: str) -> int:
    """Where ``bucket`` ends; the month after December 9999 is past what ``calendar`` can name,
    so that one ends a second after the last supported date."""
    try:
        return int(next_bucket(bucket, resolution))
    except (ValueError, OverflowError):
        return int(MAX_TIMESTAMP) + 1


def queried_domains(query: MetricsQuery, allowed: list[str]) -> list[str]:
    """The key's domains, narrowed by the domain filters."""
    domains = {d.lower() for d in allowed}
    for clause in query.filters:
        if clause.attribute == "domain":
            domains = domains & set(clause.values) if clause.comparator == "=" else domains - set(clause.values)
    return sorted(domains)


def _slice(query: MetricsQuery) -> tuple[str, str, list[str] | None]:
    """``(dimension name, roll-up slice, values)``: the one slice a query reads."""
    for clause in query.filters:
        if clause.attribute in SLICES:
            return clause.attribute, SLICES[clause.attribute], list(clause.values)
    for name in query.dimensions:
        if name in SLICES:
            return name, SLICES[name], None
    return "domain", DOMAIN, [""]


def _duration(query: MetricsQuery, start: float, stop: float) -> str:
    if query.duration:
        return query.duration
    hours = int(stop - start) // HOUR
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def _dimension(name: str, value: Any) -> dict[str, str]:
    if name == "time":
        text = rfc2822(value)
        return {"dimension": name, "value": text, "display_value": text}
    display = LABELS.get(value, value) if name == "recipient_provider" else value
    return {"dimension": name, "value": value, "display_value": display}


def _sort_key(query: MetricsQuery, item: tuple[Key, dict[str, Any]]) -> tuple:
    key, values = item
    if query.sort in query.dimensions:
        return (0, key[query.dimensions.index(query.sort)])
    if query.sort in values:
        value = values[query.sort]
        if value is None:  # a rate without a denominator: last whichever the direction
            return (1 if not query.descending else -1, 0)
        return (0, float(value))
    return (0, 0)


async def answer(gateway: Any, query: MetricsQuery, allowed: list[str]) -> dict[str, Any]:
    """The response body of one query over the ``allowed`` domains."""
    buckets = bucket_starts(query.start, query.end, query.resolution)
    first, stop = int(buckets[0]), bucket_end(buckets[-1], query.resolution)
    domains = queried_domains(query, allowed)
    name, dimension, values = _slice(query)
    step = HOUR if query.resolution == "hour" else DAY
    rows = await grouped_sums(gateway, domains, dimension, values, first, stop, step)

    counts: dict[Key, Counter[str]] = defaultdict(Counter)
    for row in rows:
        at = int(row["b"]) if query.resolution != "month" else int(bucket_of(int(row["b"]), "month"))
        parts = {"time": at, "domain": row["domain"], name: row["value"]} if name in SLICES else \
            {"time": at, "domain": row["domain"]}
        counts[tuple(parts[d] for d in query.dimensions)][row["kind"]] += int(row["n"])
    if "time" in query.dimensions:  # every bucket is shown, zeros included
        at = query.dimensions.index("time")
        others = {key[:at] + key[at + 1:] for key in counts} or ({()} if len(query.dimensions) == 1 else set())
        if len(buckets) * len(others) > MAX_ITEMS:
            raise BadRequest(f"more than {MAX_ITEMS} items: shorten the period, use a coarser resolution "
                             "or filter the other dimensions")
        for bucket in buckets:
            for other in others:
                counts[other[:at] + (int(bucket),) + other[at:]]  # noqa: B018 - a zero row
    elif not query.dimensions:
        counts[()]  # noqa: B018 - the one total row

    metrics = list(query.metrics)
    items = [(key, metric_values(metrics, c)) for key, c in counts.items()]
    items.sort(key=lambda item: _sort_key(query, item), reverse=query.descending)
    page = items[query.skip:query.skip + query.limit]
    body: dict[str, Any] = {
        "start": rfc2822(first), "end": rfc2822(stop), "resolution": query.resolution,
        "duration": _duration(query, first, stop), "dimensions": list(query.dimensions),
        "pagination": {"sort": f"{query.sort}:{'desc' if query.descending else 'asc'}" if query.sort else "",
                       "skip": query.skip, "limit": query.limit, "total": len(items)},
        "items": [{"dimensions": [_dimension(d, v) for d, v in zip(query.dimensions, key, strict=True)],
                   "metrics": values} for key, values in page],
    }
    if query.include_aggregates:
        total: Counter[str] = Counter()
        for c in counts.values():
            total.update(c)
        body["aggregates"] = {"metrics": metric_values(metrics, total)}
    return body
