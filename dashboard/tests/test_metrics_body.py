"""The metrics API's body parser (hypothesis): any JSON value gives a query or Mailgun's 400, never
another error; a well-formed body keeps what it asked for, within Mailgun's bounds."""

from __future__ import annotations

import email.utils

from hypothesis import given, settings
from hypothesis import strategies as st

import httpx

import postgate_dashboard.rollups_plugin as rollups_plugin
from postgate.errors import BadRequest
from postgate_dashboard.metrics_api.body import (
    DIMENSIONS, FILTERS, MAX_LIMIT, MAX_LIMIT_TIME, MetricsQuery, parse_body,
)
from postgate_dashboard.rollups.mailgun_metrics import ANSWERABLE, UNANSWERABLE
from postgate_dashboard.rollups.providers import LABELS

NOW = 1_800_000_000.0
#: Text a client may send: line breaks of every kind, NUL, non-ASCII digits, long runs.
HOSTILE_TEXT = st.text(st.sampled_from(["a", "1", "\r", "\n", "\x00", "\u2028", "\u0663", ":", "d", " ", "é"]),
                       max_size=40) | st.sampled_from([*ANSWERABLE, *UNANSWERABLE, *DIMENSIONS, *FILTERS, "=", "!=",
                                                       "hour", "day", "month", "7d", "24h"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10 ** 30), max_value=10 ** 30)
    | st.floats(allow_nan=False, allow_infinity=False) | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(HOSTILE_TEXT, inner, max_size=5),
    max_leaves=30,
)
FIELDS = st.sampled_from(["start", "end", "resolution", "duration", "dimensions", "metrics", "filter",
                          "include_aggregates", "include_subaccounts", "pagination"])


#: Bodies shaped like a query (a metric, filter clauses, pagination) with any JSON in the leaves.
SHAPED = st.fixed_dictionaries({
    "metrics": st.lists(st.sampled_from(ANSWERABLE), min_size=1, max_size=3),
    "filter": st.fixed_dictionaries({"AND": st.lists(st.dictionaries(
        st.sampled_from(["attribute", "comparator", "values"]),
        st.one_of(JSON, st.sampled_from(list(FILTERS)), st.lists(st.dictionaries(st.just("value"), JSON)))),
        max_size=3)}),
    "pagination": st.dictionaries(st.sampled_from(["sort", "skip", "limit"]), JSON),
    "dimensions": st.lists(st.sampled_from([*DIMENSIONS, "bot"]), max_size=3),
})


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, st.dictionaries(FIELDS, JSON, max_size=6), SHAPED))
def test_any_json_gives_a_query_or_a_400(data):
    try:
        query = parse_body(data, NOW)
    except BadRequest as exc:
        assert exc.status == 400 and str(exc)
        return
    assert isinstance(query, MetricsQuery) and query.metrics


def _date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


@st.composite
def good_bodies(draw):
    one_slice = draw(st.sampled_from(["tag", "recipient_provider"]))
    dimensions = draw(st.lists(st.sampled_from(["time", "domain", one_slice]), unique=True, max_size=3))
    metrics = draw(st.lists(st.sampled_from(ANSWERABLE), min_size=1, max_size=10, unique=True))
    end = draw(st.floats(min_value=10 * 86400, max_value=NOW))
    body = {"metrics": metrics, "dimensions": dimensions, "end": _date(end),
            "resolution": draw(st.sampled_from(["hour", "day", "month"])),
            "include_aggregates": draw(st.booleans())}
    if draw(st.booleans()):
        body["duration"] = f"{draw(st.integers(1, 9))}{draw(st.sampled_from('hd'))}"
    else:
        body["start"] = _date(end - draw(st.integers(0, 9 * 86400)))
    clauses = [{"attribute": "domain", "comparator": draw(st.sampled_from(["=", "!="])),
                "values": [{"label": "x", "value": "mg.example.com"}]}]
    if "recipient_provider" in dimensions:
        clauses.append({"attribute": "recipient_provider", "comparator": "=",
                        "values": [{"value": draw(st.sampled_from([*LABELS, *LABELS.values()]))}]})
    body["filter"] = {"AND": clauses}
    body["pagination"] = {"skip": draw(st.integers(0, 100)), "limit": draw(st.integers(1, 1000)),
                          "sort": f"{draw(st.sampled_from(metrics))}:{draw(st.sampled_from(['asc', 'desc']))}"}
    return body


@settings(max_examples=200, deadline=None)
@given(good_bodies())
def test_a_good_body_keeps_what_it_asked_for(body):
    query = parse_body(body, NOW)
    assert list(query.metrics) == body["metrics"] and list(query.dimensions) == body["dimensions"]
    assert query.start <= query.end and query.resolution == body["resolution"]
    assert query.limit == body["pagination"]["limit"] <= (MAX_LIMIT_TIME if "time" in query.dimensions else MAX_LIMIT)
    assert f"{query.sort}:{'desc' if query.descending else 'asc'}" == body["pagination"]["sort"]
    assert all(v in LABELS for f in query.filters if f.attribute == "recipient_provider" for v in f.values)


def test_the_roll_ups_alone_serve_the_metrics(live_server):
    """Loaded without the web UI (only the roll-ups' hooks), the API is still there."""
    server = live_server(plugins=[rollups_plugin], background=False)
    answer = httpx.post(f"{server.url}/v1/analytics/metrics", auth=("api", "key-test"), timeout=30,
                        json={"duration": "1d", "metrics": ["accepted_count"], "include_aggregates": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["aggregates"]["metrics"] == {"accepted_count": 0}
    assert httpx.get(f"{server.url}/dashboard/", timeout=30).status_code == 404
