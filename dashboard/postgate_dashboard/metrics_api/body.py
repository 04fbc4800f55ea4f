"""The request body of Mailgun's ``POST /v1/analytics/metrics``, checked field by field.

Anything the roll-ups cannot answer honestly, or any value of the wrong type or out of bounds, is
a :class:`~postgate.errors.BadRequest` naming the field: never a guess, never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from postgate.errors import BadRequest
from postgate.mailgun.stats_api import time_range

from ..rollups.mailgun_metrics import ANSWERABLE, UNANSWERABLE
from ..rollups.providers import LABELS

RESOLUTIONS = ("hour", "day", "month")
#: Dimensions the roll-ups can group by; Mailgun's others are refused with the reason.
DIMENSIONS = ("time", "domain", "tag", "recipient_provider")
UNSUPPORTED_DIMENSIONS = {
    "bot": "the roll-ups count bot opens and clicks together, not by bot (Apple, Gmail, generic)",
    "recipient_domain": "the roll-ups group recipients by mailbox provider (recipient_provider), not by domain",
    "country": "Postgate does not record the country of opens and clicks in the roll-ups",
    "device": "Postgate does not record the device of opens and clicks in the roll-ups",
    "ip": "Postgate sends through a provider and does not know the sending IP",
    "ip_pool": "Postgate has no IP pools",
    "subaccount": "Postgate has no subaccounts",
}
#: Filter attributes and the comparators each takes.
FILTERS = {"domain": ("=", "!="), "tag": ("=",), "recipient_provider": ("=",)}
#: Mailgun's limits: at most 3 dimensions and 10 metrics a query.
MAX_DIMENSIONS, MAX_METRICS = 3, 10
MAX_FILTERS, MAX_FILTER_VALUES = 10, 100
#: Longest text of one filter value (tags and domains are at most 255).
MAX_VALUE = 255
#: Largest ``pagination.skip``; ``limit`` is at most :data:`MAX_LIMIT_TIME` with the time
#: dimension, else :data:`MAX_LIMIT`, and defaults to the same (Mailgun's figures).
MAX_SKIP = 1_000_000
MAX_LIMIT_TIME, MAX_LIMIT = 1500, 1000
SORT_DIRECTIONS = ("asc", "desc")
#: An ISO 8601 date and time (ASCII digits only), at most 40 characters.
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.+\-Z]{2,29}$")
KNOWN_FIELDS = frozenset({"start", "end", "resolution", "duration", "dimensions", "metrics", "filter",
                          "include_aggregates", "include_subaccounts", "pagination"})


@dataclass(frozen=True, slots=True)
class Filter:
    attribute: str
    comparator: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    start: float
    end: float
    resolution: str
    duration: str | None
    dimensions: tuple[str, ...]
    metrics: tuple[str, ...]
    filters: tuple[Filter, ...]
    include_aggregates: bool
    sort: str
    descending: bool
    skip: int
    limit: int


def shown(value: Any) -> str:
    """A client value for an error message: ``repr``, bounded (no raw CR/LF reaches a log line)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string")
    return value


def _date_text(data: dict[str, Any], name: str) -> str | None:
    """``start`` or ``end`` for the core's date parser: RFC 2822 or epoch seconds as given; an
    ISO 8601 time (what mailgun.js sends for a ``Date``) as epoch seconds (UTC when it has no zone)."""
    text = _text(data, name)
    if text is None or not ISO_DATE.match(text):
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"invalid {name}: {shown(text)}") from None
    return str((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"'{name}' must be true or false")
    return value


def _names(data: dict[str, Any], name: str, most: int) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequest(f"'{name}' must be a list of strings")
    out: list[str] = []
    for item in value:
        if item not in out:
            out.append(item)
    if len(out) > most:
        raise BadRequest(f"at most {most} {name} may be requested")
    return out


def _known(kind: str, names: list[str], known: tuple[str, ...], refused: dict[str, str]) -> tuple[str, ...]:
    """``names`` if each is one Postgate answers; a 400 saying why for one it refuses."""
    for name in names:
        if name in refused:
            raise BadRequest(f"{kind} {name} is not supported: {refused[name]}")
        if name not in known:
            raise BadRequest(f"unknown {kind} {shown(name)}; supported: {', '.join(known)}")
    return tuple(names)


def _dimensions(data: dict[str, Any]) -> tuple[str, ...]:
    return _known("dimension", _names(data, "dimensions", MAX_DIMENSIONS), DIMENSIONS, UNSUPPORTED_DIMENSIONS)


def _metrics(data: dict[str, Any]) -> tuple[str, ...]:
    names = _names(data, "metrics", MAX_METRICS)
    if not names:
        raise BadRequest("'metrics' must name at least one metric")
    return _known("metric", names, ANSWERABLE, UNANSWERABLE)


def _filter_value(attribute: str, item: Any) -> str:
    value = item.get("value") if isinstance(item, dict) else None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_VALUE:
        raise BadRequest(f"a {attribute} filter value must be a non-empty string of at most {MAX_VALUE} "
                         f"characters, in {{\"value\": ...}}")
    if attribute == "recipient_provider":
        return provider_key(value)
    return value.lower() if attribute == "tag" else value.strip().lower()  # tags are kept unstripped


def provider_key(value: str) -> str:
    """The roll-ups' provider key of a ``recipient_provider`` value: the key or its label."""
    wanted = value.strip().lower()
    for key, label in LABELS.items():
        if wanted in (key, label.lower()):
            return key
    raise BadRequest(f"unknown recipient_provider {shown(value)}; known: {', '.join(LABELS.values())}")


def _filters(data: dict[str, Any]) -> tuple[Filter, ...]:
    value = data.get("filter")
    if value is None:
        return ()
    clauses = (value.get("AND") or []) if isinstance(value, dict) else None
    if not isinstance(value, dict) or set(value) - {"AND"} or not isinstance(clauses, list):
        raise BadRequest("'filter' must be {\"AND\": [{\"attribute\", \"comparator\", \"values\"}, ...]}")
    if len(clauses) > MAX_FILTERS:
        raise BadRequest(f"at most {MAX_FILTERS} filter clauses may be given")
    out = []
    for clause in clauses:
        if not isinstance(clause, dict):
            raise BadRequest("each filter clause must be an object")
        attribute, comparator, values = clause.get("attribute"), clause.get("comparator"), clause.get("values")
        if not isinstance(attribute, str) or attribute not in FILTERS:
            raise BadRequest(f"filtering on {shown(attribute)} is not supported; supported: {', '.join(FILTERS)}")
        if comparator not in FILTERS[attribute]:
            raise BadRequest(f"comparator {shown(comparator)} is not supported for {attribute}; "
                             f"supported: {', '.join(FILTERS[attribute])}")
        if not isinstance(values, list) or not values or len(values) > MAX_FILTER_VALUES:
            raise BadRequest(f"'values' of a filter clause must list 1 to {MAX_FILTER_VALUES} values")
        out.append(Filter(attribute, comparator, tuple(dict.fromkeys(_filter_value(attribute, v) for v in values))))
    return tuple(out)


def _check_slices(dimensions: tuple[str, ...], filters: tuple[Filter, ...]) -> None:
    """The roll-ups count each tag, and each provider, as a slice of its own: a query reads one."""
    sliced = [f for f in filters if f.attribute != "domain"]
    if len(({*dimensions} | {f.attribute for f in sliced}) & {"tag", "recipient_provider"}) > 1:
        raise BadRequest("use tag or recipient_provider, not both: the roll-ups count each apart")
    if len(sliced) > 1:
        raise BadRequest(f"give one {sliced[0].attribute} filter clause (its values are OR-ed)")
    if sliced and sliced[0].attribute == "tag" and len(sliced[0].values) > 1 and "tag" not in dimensions:
        raise BadRequest("several tag values need the tag dimension: an event with two of the tags "
                         "would otherwise be counted twice")


def _count(data: dict[str, Any], name: str, most: int, default: int) -> int:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise BadRequest(f"'pagination.{name}' must be a whole number from 0 to {most}")
    return value


def _pagination(data: dict[str, Any], dimensions: tuple[str, ...],
                metrics: tuple[str, ...]) -> tuple[str, bool, int, int]:
    value = data.get("pagination")
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise BadRequest("'pagination' must be an object")
    most = MAX_LIMIT_TIME if "time" in dimensions else MAX_LIMIT
    skip, limit = _count(value, "skip", MAX_SKIP, 0), _count(value, "limit", most, most)
    if limit == 0:
        limit = most
    sort = value.get("sort")
    if sort is None or sort == "":
        return (dimensions[0] if dimensions else ""), False, skip, limit
    column, _, direction = sort.partition(":") if isinstance(sort, str) else ("", "", "")
    direction = direction or "asc"
    if column not in (*dimensions, *metrics) or direction not in SORT_DIRECTIONS:
        raise BadRequest("'pagination.sort' must be 'column:asc' or 'column:desc' with a requested dimension or metric")
    return column, direction == "desc", skip, limit


def parse_body(data: Any, now: float) -> MetricsQuery:
    """The query of a parsed JSON body (``None``: an empty body), or a ``BadRequest``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(data) - KNOWN_FIELDS, key=str)
    if unknown:
        raise BadRequest(f"unknown field {shown(unknown[0])}")
    resolution = (_text(data, "resolution") or "day").lower()
    if resolution not in RESOLUTIONS:
        raise BadRequest(f"invalid resolution {shown(resolution)}: hour, day or month")
    duration = _text(data, "duration")
    start, end = time_range(_date_text(data, "start"), _date_text(data, "end"), duration, now)
    dimensions, metrics = _dimensions(data), _metrics(data)
    filters = _filters(data)
    _check_slices(dimensions, filters)
    _flag(data, "include_subaccounts")  # no subaccounts: every domain of the key is counted
    sort, descending, skip, limit = _pagination(data, dimensions, metrics)
    return MetricsQuery(start, end, resolution, duration, dimensions, metrics, filters,
                        _flag(data, "include_aggregates"), sort, descending, skip, limit)
