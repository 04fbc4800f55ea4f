"""Mailgun's ``POST /v1/analytics/metrics`` on a live gateway with the dashboard's roll-ups: the same
figures as the core's ``GET /v3/{domain}/stats/total`` and the dashboard's own overview for the
same period and resolution, bucket by bucket; filters and dimensions; the API key's domains only;
Mailgun's 400s; and the official clients (the Python ``mailgun`` SDK and mailgun.js)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from mailgun.client import Client

import postgate_dashboard
import postgate_mysql
from postgate import Event, EventQuery, Gateway
from postgate.testing.fixtures import TEST_DOMAIN, LiveServer, make_settings
from postgate.testing.mariadb import create_database, drop_database
from postgate_dashboard.rollups import queries
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.rollups.providers import LABELS

KEY = "key-test"
AUTH = ("api", KEY)
OTHER = "other.example"  # a domain the key may not use
HOUR, DAY = 3600, 86400
NODE_DRIVER = Path(__file__).resolve().parents[2] / "tests" / "node" / "metrics_mailgun.js"
#: The /v3 stats event types and the metrics API's names for the same counts.
STATS_TO_METRICS = {"accepted": "accepted_count", "delivered": "delivered_count", "opened": "opened_count",
                    "clicked": "clicked_count", "unsubscribed": "unsubscribed_count",
                    "complained": "complained_count", "stored": "stored_count"}
COUNT_METRICS = [*STATS_TO_METRICS.values(), "permanent_failed_count", "temporary_failed_count", "failed_count"]
#: Metric name -> the dashboard overview's count kinds it is made of (plus, minus).
FROM_OVERVIEW = {
    "accepted_count": (["accepted"], []), "delivered_count": (["delivered"], []),
    "opened_count": (["opened"], []), "clicked_count": (["clicked"], []),
    "unique_opened_count": (["opened_unique"], []), "unique_clicked_count": (["clicked_unique"], []),
    "unsubscribed_count": (["unsubscribed"], []), "complained_count": (["complained"], []),
    "stored_count": (["stored"], []), "permanent_failed_count": (["failed_permanent"], []),
    "temporary_failed_count": (["failed_temporary"], []),
    "failed_count": (["failed_permanent", "failed_temporary"], []),
    "bounced_count": (["failed_permanent"], ["suppressed"]),
}
#: Rates the dashboard defines as Mailgun does (the same numerator over delivered).
SHARED_RATES = ("opened_rate", "unique_opened_rate", "clicked_rate", "unique_clicked_rate",
                "unsubscribed_rate", "complained_rate")


def event(kind: str, recipient: str, send: str, *, domain: str = TEST_DOMAIN, tags=(), bot: str = "",
          severity: str | None = None, reason: str | None = None) -> Event:
    payload = {"event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
               "tags": list(tags), "user-variables": {"email-id": send},
               "message": {"headers": {"message-id": f"{send}@{domain}", "subject": "Issue"}}}
    if kind in ("opened", "clicked"):
        payload["client-info"] = {"client-type": "browser", "bot": bot}
    if kind == "clicked":
        payload["url"] = "https://blog.example.com/post"
    if kind == "failed":
        payload.update({"severity": severity, "reason": reason, "delivery-status": {"code": 550}})
    return Event(domain=domain, event=kind, recipient=recipient, message_id=f"{send}@{domain}", payload=payload,
                 key=f"{kind}:{uuid.uuid4().hex}", email_id=send, tags=list(tags), severity=severity)


def day_batch(day: int) -> list[Event]:
    """One day's traffic of one newsletter: more each day, with bots, repeats, failures and tags."""
    send, tags = f"send-{day}", ["newsletter", f"Issue-{day}"]
    people = [f"p{i}@{d}" for i, d in enumerate(["gmail.com", "outlook.com", "yahoo.com", "example.org"] * (day + 2))]
    out = [event("accepted", p, send, tags=tags) for p in people]
    out += [event("delivered", p, send, tags=tags) for p in people[1:]]
    out += [event("failed", people[0], send, tags=tags, severity="permanent", reason="bounce"),
            event("failed", people[1], send, tags=tags, severity="permanent", reason="suppress-bounce"),
            event("failed", people[2], send, tags=tags, severity="temporary", reason="generic")]
    for p in people[1:1 + day + 2]:
        out += [event("opened", p, send, tags=tags), event("opened", p, send, tags=tags)]
    out += [event("opened", people[-1], send, tags=tags, bot="apple"), event("clicked", people[1], send, tags=tags),
            event("clicked", people[1], send, tags=tags), event("clicked", people[2], send, tags=tags, bot="generic"),
            event("unsubscribed", people[3], send, tags=tags), event("complained", people[4], send, tags=tags),
            event("stored", people[5], send, tags=tags)]
    return out


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def seeded(request, tmp_path_factory):
    """A live gateway with the dashboard and four days of traffic (3 days ago to now), recorded
    through ``gateway.record_events`` at backdated times, plus traffic of a domain the key may
    not use; on SQLite and on MariaDB. Module-scoped: every test here reads, none writes."""
    data = tmp_path_factory.mktemp("metrics") / "data"
    if request.param == "sqlite":
        gateway = Gateway(make_settings(data), plugins=[postgate_dashboard])
        yield from _serve(gateway)
        return
    url = asyncio.run(create_database("postgate_metricsapi"))
    try:
        gateway = Gateway(make_settings(data, backends={"storage": "mysql"}, plugin_settings={"mysql": {"url": url}}),
                          plugins=[postgate_mysql, postgate_dashboard])
        yield from _serve(gateway)
    finally:
        asyncio.run(drop_database(url))


def _serve(gateway):
    server = LiveServer(gateway, background=False).start()
    now = time.time()
    try:
        for day in (3, 2, 1, 0):
            at = now - day * DAY - (2 * HOUR if day else 0)
            gateway.storage.clock = lambda at=at: at
            server.run(gateway.record_events(day_batch(day)))
            server.run(gateway.record_events([event("accepted", f"x{day}@gmail.com", "x", domain=OTHER)]))
        gateway.storage.clock = time.time
        server.run(flush(gateway))
        yield server, now
    finally:
        server.stop()


def rfc2822(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def epoch(text: str) -> int:
    return int(email.utils.parsedate_to_datetime(text.replace(" UTC", " +0000")).timestamp())


def metrics(server, body: dict, auth=AUTH) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/analytics/metrics", json=body, auth=auth, timeout=30)


def from_overview(counts: dict[str, int], name: str) -> int:
    plus, minus = FROM_OVERVIEW[name]
    return sum(counts.get(k, 0) for k in plus) - sum(counts.get(k, 0) for k in minus)


def test_a_send_through_the_pipeline_agrees(live_server):
    """A Ghost-shaped batch through the messages API and the worker (the outbox's simulated
    bounce, suppression drop, complaint and deferral), then opens recorded: the three agree."""
    server = live_server(plugins=[postgate_dashboard])
    sim = "simulator.amazonses.com"
    to = ["ann@gmail.com", "bo@outlook.com", *(f"{k}@{sim}" for k in ("bounce", "complaint", "suppressionlist",
                                                                     "tempfail", "success"))]
    form = {"from": "Blog <noreply@mg.example.com>", "subject": "Hello", "html": "<p>Hi</p>", "to": to,
            "recipient-variables": json.dumps({a: {} for a in to}), "v:email-id": "pipeline-send",
            "o:tag": ["ghost-email"]}
    assert httpx.post(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=form, auth=AUTH, timeout=30).status_code == 200
    deadline = time.monotonic() + 60
    while server.run(server.gateway.queue.depth()) or len(server.run(server.gateway.storage.page_events(
            EventQuery(domain=TEST_DOMAIN, ascending=True, limit=100, live=True)))) < 2 * len(to) + 2:
        assert time.monotonic() < deadline, "the batch was not worked off"
        time.sleep(0.1)
    server.run(server.gateway.record_events([event("opened", "ann@gmail.com", "pipeline-send"),
                                             event("opened", "ann@gmail.com", "pipeline-send", bot="apple")]))
    now = time.time()
    start, end = rfc2822(now - HOUR), rfc2822(now)
    got = metrics(server, {"start": start, "end": end, "resolution": "hour", "include_aggregates": True,
                           "metrics": COUNT_METRICS}).json()["aggregates"]["metrics"]
    stats = httpx.get(f"{server.url}/v3/{TEST_DOMAIN}/stats/total", auth=AUTH, timeout=30, params=[
        *[("event", e) for e in [*STATS_TO_METRICS, "failed"]], ("start", start), ("end", end),
        ("resolution", "hour")]).json()["stats"]
    first, stop = int(now - HOUR) // HOUR * HOUR, (int(now) // HOUR + 1) * HOUR  # the buckets of start and end
    overview = server.run(queries.overview(server.gateway, TEST_DOMAIN, first, stop, "hour")).totals
    for stat, name in STATS_TO_METRICS.items():
        assert got[name] == sum(e[stat]["total"] for e in stats) == from_overview(overview, name), name
    assert got["permanent_failed_count"] == sum(e["failed"]["permanent"]["total"] for e in stats) == 2
    assert got["temporary_failed_count"] == sum(e["failed"]["temporary"]["total"] for e in stats) >= 1
    assert got["accepted_count"] == len(to) and got["opened_count"] == 2 and got["complained_count"] == 1


@pytest.mark.parametrize("resolution", ["hour", "day", "month"])
def test_metrics_stats_and_overview_agree(seeded, resolution):
    server, now = seeded
    start, end = rfc2822(now - 3 * DAY - 5 * HOUR), rfc2822(now)
    unique = ["unique_opened_count", "unique_clicked_count", "bounced_count", *SHARED_RATES]
    answers = [metrics(server, {"start": start, "end": end, "resolution": resolution, "dimensions": ["time"],
                                "metrics": names, "include_aggregates": True})
               for names in (COUNT_METRICS, unique)]
    for answer in answers:
        assert answer.status_code == 200, answer.text
    counts, more = (a.json() for a in answers)
    first, stop = epoch(counts["start"]), epoch(counts["end"])

    stats = httpx.get(f"{server.url}/v3/{TEST_DOMAIN}/stats/total", auth=AUTH, timeout=30, params=[
        *[("event", e) for e in [*STATS_TO_METRICS, "failed"]], ("start", start), ("end", end),
        ("resolution", resolution)]).json()
    overview = server.run(queries.overview(server.gateway, TEST_DOMAIN, first, stop, resolution))

    buckets = [epoch(item["dimensions"][0]["value"]) for item in counts["items"]]
    assert buckets == [epoch(entry["time"]) for entry in stats["stats"]] == overview.buckets
    assert len(buckets) >= {"hour": 72, "day": 4, "month": 1}[resolution]
    assert epoch(stats["start"]) == first
    for i, (item, extra, entry) in enumerate(zip(counts["items"], more["items"], stats["stats"], strict=True)):
        m, kinds = {**item["metrics"], **extra["metrics"]}, {k: v[i] for k, v in overview.series.items()}
        for stat, name in STATS_TO_METRICS.items():
            assert m[name] == entry[stat]["total"] == from_overview(kinds, name), (name, i)
        assert m["permanent_failed_count"] == entry["failed"]["permanent"]["total"]
        assert m["temporary_failed_count"] == entry["failed"]["temporary"]["total"]
        for name in FROM_OVERVIEW:
            assert m[name] == from_overview(kinds, name), (name, i)
    totals = {**counts["aggregates"]["metrics"], **more["aggregates"]["metrics"]}
    for name in FROM_OVERVIEW:
        assert totals[name] == from_overview(overview.totals, name), name
    for name in SHARED_RATES:  # the dashboard's fraction, Mailgun's percentage
        assert totals[name] == f"{100 * overview.rates[name]:.4f}", name
    assert totals["accepted_count"] > 0 and totals["unique_opened_count"] < totals["opened_count"]


def test_rates_follow_mailguns_definitions(seeded):
    server, now = seeded
    body = {"duration": "5d", "metrics": ["delivered_rate", "bounce_rate", "permanent_fail_rate", "temporary_fail_rate",
                                          "fail_rate", "sent_count", "processed_count", "delivered_count",
                                          "bounced_count", "failed_count"], "include_aggregates": True}
    got = metrics(server, body).json()
    m = got["aggregates"]["metrics"]
    assert got["items"][0]["metrics"] == m and got["items"][0]["dimensions"] == []
    assert m["delivered_rate"] == f"{100 * m['delivered_count'] / m['sent_count']:.4f}"
    assert m["bounce_rate"] == f"{100 * m['bounced_count'] / m['processed_count']:.4f}"
    assert m["fail_rate"] == f"{100 * m['failed_count'] / m['processed_count']:.4f}"
    assert got["duration"] == "5d" and got["resolution"] == "day"


def test_tag_and_provider_dimensions_match_the_dashboard(seeded):
    server, now = seeded
    first, stop = now - 5 * DAY, now + HOUR
    period = {"start": rfc2822(first), "end": rfc2822(now)}
    by_tag = metrics(server, {**period, "dimensions": ["tag"], "metrics": ["accepted_count", "unique_opened_count"],
                              "pagination": {"sort": "accepted_count:desc", "limit": 3}}).json()
    assert by_tag["pagination"] == {"sort": "accepted_count:desc", "skip": 0, "limit": 3, "total": 5}
    tags = [item["dimensions"][0]["value"] for item in by_tag["items"]]
    assert tags[0] == "newsletter" and set(tags[1:]) <= {f"issue-{d}" for d in range(4)}
    accepted = [item["metrics"]["accepted_count"] for item in by_tag["items"]]
    assert accepted == sorted(accepted, reverse=True)
    api_first, api_stop = epoch(by_tag["start"]), epoch(by_tag["end"])
    for item in by_tag["items"]:
        tag = item["dimensions"][0]["value"]
        dash = server.run(queries.overview(server.gateway, TEST_DOMAIN, api_first, api_stop, "day", tag=tag))
        assert item["metrics"] == {"accepted_count": dash.totals["accepted"],
                                   "unique_opened_count": dash.totals["opened_unique"]}

    filtered = metrics(server, {**period, "dimensions": ["time"], "metrics": ["accepted_count"],
                                "filter": {"AND": [{"attribute": "tag", "comparator": "=",
                                                    "values": [{"label": "x", "value": "Issue-2"}]}]}}).json()
    assert sum(item["metrics"]["accepted_count"] for item in filtered["items"]) == 16
    two = [{"value": "newsletter"}, {"value": "ISSUE-2"}]
    both = metrics(server, {**period, "dimensions": ["tag"], "metrics": ["accepted_count"],
                            "filter": {"AND": [{"attribute": "tag", "comparator": "=", "values": two}]}}).json()
    assert {i["dimensions"][0]["value"]: i["metrics"]["accepted_count"] for i in both["items"]} == {
        "newsletter": 56, "issue-2": 16}

    by_provider = metrics(server, {**period, "dimensions": ["recipient_provider"],
                                   "metrics": ["delivered_count", "clicked_count"]}).json()
    dash_rows = server.run(queries.by_provider(server.gateway, TEST_DOMAIN, api_first, api_stop))
    assert {item["dimensions"][0]["display_value"]: item["metrics"] for item in by_provider["items"]} == {
        LABELS[row.provider]: {"delivered_count": row.counts.get("delivered", 0),
                               "clicked_count": row.counts.get("clicked", 0)} for row in dash_rows}
    assert first < stop


def test_only_the_keys_domains_are_counted(seeded):
    server, now = seeded
    body = {"duration": "7d", "dimensions": ["domain"], "metrics": ["accepted_count"]}
    domains = [item["dimensions"][0]["value"] for item in metrics(server, body).json()["items"]]
    assert domains == [TEST_DOMAIN]
    other = {"duration": "7d", "metrics": ["accepted_count"], "include_aggregates": True,
             "filter": {"AND": [{"attribute": "domain", "comparator": "=", "values": [{"value": OTHER}]}]}}
    answer = metrics(server, other).json()
    assert answer["aggregates"]["metrics"]["accepted_count"] == 0
    mine = [{"attribute": "domain", "comparator": "!=", "values": [{"value": TEST_DOMAIN}]}]
    excluded = {**other, "filter": {"AND": mine}}
    assert metrics(server, excluded).json()["aggregates"]["metrics"]["accepted_count"] == 0
    assert metrics(server, body, auth=("api", "key-wrong")).status_code == 401


@pytest.mark.parametrize(("body", "message"), [
    ({"metrics": ["hard_bounces_count"]}, "not supported: the roll-ups count permanent failures"),
    ({"metrics": ["nope_count"]}, "unknown metric"),
    ({"metrics": ["accepted_count"], "dimensions": ["bot"]}, "dimension bot is not supported"),
    ({"metrics": ["accepted_count"], "dimensions": ["time", "tag", "domain", "recipient_provider"]}, "at most 3"),
    ({"metrics": ["accepted_count"], "dimensions": ["tag", "recipient_provider"]}, "not both"),
    ({"metrics": ["accepted_count"], "resolution": "week"}, "invalid resolution"),
    ({"metrics": ["accepted_count"], "start": "yesterday\r\nX-Evil: 1"}, "invalid start"),
    ({"metrics": ["accepted_count"], "start": "2026-13-45T00:00:00Z"}, "invalid start"),
    ({"metrics": ["accepted_count"], "end": "1969-12-31T23:00:00"}, "invalid end"),
    ({"metrics": ["accepted_count"], "duration": "9" * 400 + "d"}, "invalid duration"),
    ({"metrics": ["accepted_count"], "pagination": {"limit": 10 ** 400}}, "pagination.limit"),
    ({"metrics": ["accepted_count"], "pagination": {"skip": True}}, "pagination.skip"),
    ({"metrics": ["accepted_count"], "pagination": {"sort": "opened_count:desc"}}, "pagination.sort"),
    ({"metrics": ["accepted_count"], "resolution": "hour", "duration": "9999999d"}, "before the epoch"),
    ({"metrics": ["accepted_count"], "resolution": "hour", "duration": "9000d"}, "too long"),
    ({"metrics": ["accepted_count"], "filter": {"AND": [
        {"attribute": "tag", "comparator": "=", "values": [{"value": "newsletter"}, {"value": "issue-2"}]}]}},
     "counted twice"),
    ({"metrics": ["accepted_count"], "filter": {"AND": [{"attribute": ["tag"], "comparator": "=", "values": []}]}},
     "filtering on ['tag'] is not supported"),
    ({"metrics": "accepted_count"}, "list of strings"),
    ({}, "at least one metric"),
    ([1, 2], "JSON object"),
    ({"metrics": ["accepted_count"], "filter": {"AND": [{"attribute": "ip", "comparator": "=", "values": []}]}},
     "filtering on 'ip' is not supported"),
])
def test_bad_bodies_get_mailguns_400(seeded, body, message):
    server, _ = seeded
    answer = metrics(server, body)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["message"]


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe{}", b"[" * 100_000 + b"]" * 100_000, b'{"metrics": ["\\ud800"]}',
                                 b'{"start": 1e999}'])
def test_hostile_bytes_are_refused(seeded, raw):
    server, _ = seeded
    answer = httpx.post(f"{server.url}/v1/analytics/metrics", content=raw, auth=AUTH, timeout=30,
                        headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "message" in answer.json()


@pytest.mark.parametrize("resolution", ["hour", "day", "month"])
def test_the_last_supported_date_is_answered(seeded, resolution):
    server, _ = seeded
    body = {"end": "Fri, 31 Dec 9999 23:59:59 +0000", "duration": "2d", "resolution": resolution,
            "dimensions": ["time"], "metrics": ["accepted_count"]}
    answer = metrics(server, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"][-1]["metrics"] == {"accepted_count": 0}


def test_python_sdk_reads_the_metrics(seeded):
    server, now = seeded
    with Client(auth=("api", KEY), api_url=server.url) as client:
        response = client.analytics_metrics.create(data={
            "start": rfc2822(now - 4 * DAY), "end": rfc2822(now), "resolution": "day", "dimensions": ["time"],
            "metrics": ["accepted_count", "delivered_count", "opened_rate"], "include_aggregates": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["items"]) == 5 and body["aggregates"]["metrics"]["accepted_count"] == 8 + 12 + 16 + 20
    bad = None
    with Client(auth=("api", KEY), api_url=server.url) as client:
        bad = client.analytics_metrics.create(data={"metrics": ["webhook_count"]})
    assert bad.status_code == 400 and "webhook" in bad.json()["message"]


def test_mailgun_js_reads_the_metrics(seeded):
    server, now = seeded
    node = shutil.which("node") or "/usr/bin/node"
    queries_ = [{"start": rfc2822(now - 4 * DAY), "end": rfc2822(now), "resolution": "day",
                 "dimensions": ["time"], "metrics": ["accepted_count", "unique_clicked_count"],
                 "include_aggregates": True},
                {"metrics": ["delayed_rate"]},
                {"start": (now - 4 * DAY) * 1000, "end": now * 1000, "asDates": True,
                 "metrics": ["accepted_count"], "include_aggregates": True}]
    done = subprocess.run([node, str(NODE_DRIVER)], input=json.dumps({"url": server.url, "key": KEY,
                                                                      "queries": queries_}),
                          capture_output=True, text=True, timeout=60, check=True)
    good, bad, dates = json.loads(done.stdout)["results"]
    assert good["ok"], good
    result = good["result"]
    assert result["status"] == 200 and len(result["items"]) == 5
    assert result["aggregates"]["metrics"]["accepted_count"] == 56
    assert result["start"].startswith(time.strftime("%Y-%m-%d", time.gmtime(now - 4 * DAY)))
    assert not bad["ok"] and bad["error"]["status"] == 400
    assert dates["ok"], dates  # a Date goes out as ISO 8601 text (mailgun.js warns about it)
    assert dates["result"]["aggregates"]["metrics"]["accepted_count"] == 56
