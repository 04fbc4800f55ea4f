"""The roll-ups against a real gateway, on SQLite and MariaDB: a Ghost-shaped send through the API
and the outbox (the simulator's bounces, complaint and deferral), opens and clicks recorded
through ``gateway.record_events`` (repeats and bots included), random mixes of events
(hypothesis); every figure the queries give equals a count made the slow way from the stored
events; and a backfill on emptied roll-ups gives back the same rows."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import postgate_dashboard
import postgate_mysql
from postgate import Event, EventQuery
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate.testing.mariadb import create_database, drop_database
from postgate_dashboard.rollups import queries
from postgate_dashboard.rollups.backfill import backfill
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.rollups.models import Count, First, LinkCount, Send

SIM = "simulator.amazonses.com"
EMAIL_ID = "6740a1b2c3d4e5f6a7b8c9d0"
TAGS = ["ghost-email", "Bulk-Email"]

#: The recipient domains the tests use, with the provider each belongs to.
PROVIDER_OF = {
    "gmail.com": "gmail", "googlemail.com": "gmail", "hotmail.co.uk": "microsoft", "outlook.com": "microsoft",
    "yahoo.com": "yahoo", "aol.com": "yahoo", "icloud.com": "icloud", "me.com": "icloud", "proton.me": "proton",
    "example.com": "other", "simulator.amazonses.com": "other", "live.example.org": "other",
}


@dataclass
class Expected:
    totals: Counter = field(default_factory=Counter)
    hourly: dict = field(default_factory=lambda: defaultdict(Counter))  # kind -> hour -> n
    sends: dict = field(default_factory=lambda: defaultdict(Counter))
    providers: dict = field(default_factory=lambda: defaultdict(Counter))
    tags: dict = field(default_factory=lambda: defaultdict(Counter))
    links: dict = field(default_factory=lambda: defaultdict(Counter))  # (send, url) -> kind -> n


async def all_events(gateway, domain: str) -> list:
    out, after = [], None
    while True:
        page = await gateway.storage.page_events(
            EventQuery(domain=domain, ascending=True, limit=500, after=after, live=True))
        if not page:
            return out
        out.extend(page)
        after = (page[-1].recorded_at, page[-1].id)


def expected(events) -> Expected:
    want = Expected()
    seen: set[tuple] = set()
    for e in events:
        p = e.payload
        send = p.get("user-variables", {}).get("email-id") or e.message_id
        names = []
        if e.event == "failed":
            names.append("failed_temporary" if e.severity != "permanent" else "failed_permanent")
            if e.severity == "permanent" and p.get("reason", "").startswith("suppress-"):
                names.append("suppressed")
        else:
            names.append(e.event)
        if e.event == "clicked" and p.get("url"):
            bot, link = bool(p.get("client-info", {}).get("bot")), (send, p["url"])
            want.links[link]["clicked"] += 1
            want.links[link]["clicked_human"] += 0 if bot else 1
            for variant in ["_unique"] + ([] if bot else ["_unique_human"]):
                mark = (send, e.recipient.lower(), "link" + variant, p["url"])
                if mark not in seen:
                    seen.add(mark)
                    want.links[link]["clicked" + variant] += 1
        if e.event in ("opened", "clicked"):
            bot = bool(p.get("client-info", {}).get("bot"))
            if bot:
                names.append(e.event + "_machine")
            variants = ["_unique"] + ([] if bot else ["_unique_human"])
            for variant in variants:
                mark = (send, e.recipient.lower(), e.event + variant)
                if mark not in seen:
                    seen.add(mark)
                    names.append(e.event + variant)
        hour = e.recorded_at // 1_000_000 // 3600 * 3600
        provider = PROVIDER_OF[e.recipient.rpartition("@")[2].lower()]
        for name in names:
            want.totals[name] += 1
            want.hourly[name][hour] += 1
            want.sends[send][name] += 1
            want.providers[provider][name] += 1
            for tag in {t.lower() for t in e.tags}:
                want.tags[tag][name] += 1
    return want


# -- set-up ---------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "mysql"])
def server(request, live_server):
    if request.param == "sqlite":
        yield live_server(plugins=[postgate_dashboard])
        return
    url = asyncio.run(create_database())
    try:
        srv = live_server(plugins=[postgate_mysql, postgate_dashboard], backends={"storage": "mysql"},
                          plugin_settings={"mysql": {"url": url}})
        yield srv
        srv.stop()  # before the database is dropped
    finally:
        asyncio.run(drop_database(url))


def send_ghost_batch(server, addresses: list[str], email_id: str = EMAIL_ID) -> None:
    """POST one newsletter batch the way Ghost 6.65 does, and wait for the worker to finish it."""
    variables = {a: {"name": f"Member {i}"} for i, a in enumerate(addresses)}
    form = {"from": "My Blog <noreply@mg.example.com>", "subject": "Hello %recipient.name%",
            "html": "<p>Hi %recipient.name%</p>", "recipient-variables": json.dumps(variables),
            "v:email-id": email_id, "o:tracking-opens": "yes", "o:tag": TAGS, "to": addresses}
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as http:
        response = http.post(f"/v3/{TEST_DOMAIN}/messages", data=form)
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 60
    while server.run(server.gateway.queue.depth()):
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(0.05)


def engagement(domain: str, kind: str, recipient: str, send: str | None, *, bot: str = "",
               tags: list[str] = (), message_id: str | None = None,
               url: str | None = "https://blog.example.com/post") -> Event:
    """An opened/clicked/unsubscribed/complained event shaped like Mailgun's (contract §3.5)."""
    payload = {"event": kind, "log-level": "info", "recipient": recipient,
               "recipient-domain": recipient.rpartition("@")[2], "tags": list(tags), "campaigns": [],
               "user-variables": {"email-id": send} if send else {},
               "message": {"headers": {"message-id": message_id or f"{send}@{domain}"}}}
    if kind in ("opened", "clicked"):
        payload["client-info"] = {"client-type": "browser", "bot": bot}
    if kind == "clicked" and url is not None:
        payload["url"] = url
    return Event(domain=domain, event=kind, recipient=recipient, message_id=message_id or f"{send}@{domain}",
                 payload=payload, key=f"{kind}:{uuid.uuid4().hex}", email_id=send, tags=list(tags))


def failure(domain: str, recipient: str, send: str, *, severity: str, reason: str, tags=()) -> Event:
    payload = {"event": "failed", "severity": severity, "reason": reason, "recipient": recipient,
               "recipient-domain": recipient.rpartition("@")[2], "tags": list(tags),
               "user-variables": {"email-id": send}, "delivery-status": {"code": 550},
               "message": {"headers": {"message-id": f"{send}@{domain}", "subject": "Hi"}}}
    return Event(domain=domain, event="failed", recipient=recipient, message_id=f"{send}@{domain}",
                 payload=payload, key=f"failed:{uuid.uuid4().hex}", email_id=send, tags=list(tags),
                 severity=severity)


def plain(domain: str, kind: str, recipient: str, send: str, tags=()) -> Event:
    payload = {"event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
               "tags": list(tags), "user-variables": {"email-id": send},
               "message": {"headers": {"message-id": f"{send}@{domain}", "subject": f"Issue {send}"}}}
    return Event(domain=domain, event=kind, recipient=recipient, message_id=f"{send}@{domain}", payload=payload,
                 key=f"{kind}:{uuid.uuid4().hex}", email_id=send, tags=list(tags))


# -- the check ------------------------------------------------------------------------------------


def check_rollups(server, domain: str) -> Expected:
    """Every query answer equals the slow count of the stored events; returns that count."""
    gw = server.gateway
    server.run(flush(gw))  # what the background writer has not written yet
    events = server.run(all_events(gw, domain))
    want = expected(events)
    assert want.totals, "nothing was recorded"
    now = time.time()
    start, end = min(e.recorded_at for e in events) / 1e6 - 7200, now + 7200

    hourly = server.run(queries.overview(gw, domain, start, end, "hour"))
    assert hourly.totals == dict(want.totals)
    for kind, by_hour in want.hourly.items():
        assert {b: n for b, n in zip(hourly.buckets, hourly.series[kind]) if n} == dict(by_hour), kind
    daily = server.run(queries.overview(gw, domain, start, end, "day"))
    monthly = server.run(queries.overview(gw, domain, start, end, "month"))
    assert daily.totals == monthly.totals == dict(want.totals)
    # Periods of several days read whole days from the daily rows and the edges from the hourly.
    wide_start, wide_end = start - 3 * 86_400 + 1800, end + 3 * 86_400 - 1800
    wide = server.run(queries.overview(gw, domain, wide_start, wide_end, "day"))
    assert wide.totals == dict(want.totals) and len(wide.buckets) >= 6
    assert sum(sum(values) for values in wide.series.values()) == sum(want.totals.values())
    wide_providers = server.run(queries.by_provider(gw, domain, wide_start, wide_end))
    assert {row.provider: row.counts for row in wide_providers} == {p: dict(c) for p, c in want.providers.items()}
    sent = want.totals["delivered"] + want.totals["failed_permanent"] - want.totals["suppressed"]
    assert hourly.rates["delivered_rate"] == (want.totals["delivered"] / sent if sent else None)

    providers = server.run(queries.by_provider(gw, domain, start, end))
    assert {row.provider: row.counts for row in providers} == {p: dict(c) for p, c in want.providers.items()}
    for tag, counts in want.tags.items():
        assert server.run(queries.overview(gw, domain, start, end, "day", tag=tag)).totals == dict(counts), tag
        assert server.run(queries.overview(gw, domain, wide_start, wide_end, "month", tag=tag)).totals == dict(counts)

    for send, counts in want.sends.items():
        summary = server.run(queries.send_summary(gw, domain, send))
        assert summary is not None and summary.counts == dict(counts), send
    listed, cursor = [], None
    while True:
        page = server.run(queries.sends(gw, domain, limit=2, before=cursor))
        listed.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(row.send_key for row in listed) == sorted(want.sends)
    assert [(r.first_at, r.id) for r in listed] == sorted(((r.first_at, r.id) for r in listed), reverse=True)
    check_links(server, domain, want)
    return want


def check_links(server, domain: str, want: Expected) -> None:
    """Top links of every send, both ways, equal the slow count; shares add up over all links."""
    for send in {send for send, _ in want.links} | set(want.sends):
        mine = {url: c for (s, url), c in want.links.items() if s == send}
        for who, (clicks, unique) in queries.LINK_KINDS.items():
            rows = server.run(queries.top_links(server.gateway, domain, send, who=who, limit=1000))
            expect = sorted((url[:1024], c[clicks], c[unique]) for url, c in mine.items() if c[clicks])
            assert sorted((r.url, r.clicks, r.unique) for r in rows) == expect, (send, who)
            assert [r.clicks for r in rows] == sorted((r.clicks for r in rows), reverse=True)
            if rows:
                assert abs(sum(r.share for r in rows) - 1) < 1e-9
            top = server.run(queries.top_links(server.gateway, domain, send, who=who, limit=1))
            assert top == rows[:1]


async def rollup_rows(gateway, domain: str) -> dict:
    with gateway.storage.orm():
        counts = await Count.filter(domain=domain).values_list("dimension", "value", "bucket", "kind", "n")
        sends = await Send.filter(domain=domain).values_list("send_key", "email_id", "subject", "first_at", "last_at")
        firsts = await First.filter(domain=domain).values_list("digest", "event_id", "at")
        links = await LinkCount.filter(domain=domain).values_list("send_key", "url_key", "url", "kind", "n")
    return {"counts": sorted(counts), "sends": sorted(sends), "firsts": sorted(firsts), "links": sorted(links)}


async def wipe(gateway, domain: str) -> None:
    with gateway.storage.orm():
        for model in (Count, Send, First, LinkCount):
            await model.filter(domain=domain).delete()


# -- the tests -------------------------------------------------------------------------------------


def test_a_ghost_send_with_engagement_rolls_up_to_the_events(server) -> None:
    gw = server.gateway
    members = ["ann@gmail.com", "bo@hotmail.co.uk", "cy@yahoo.com", "di@icloud.com", "eve@proton.me",
               "fay@example.com", "Gus@GMAIL.com"]
    sim = [f"{kind}@{SIM}" for kind in ("success", "bounce", "complaint", "suppressionlist", "tempfail")]
    send_ghost_batch(server, members + sim)
    send_ghost_batch(server, ["ann@gmail.com", f"bounce@{SIM}"], email_id="second0000000000000000000")
    opens = [
        engagement(TEST_DOMAIN, "opened", "ann@gmail.com", EMAIL_ID, tags=TAGS),
        engagement(TEST_DOMAIN, "opened", "ann@gmail.com", EMAIL_ID, tags=TAGS),  # a second open
        engagement(TEST_DOMAIN, "opened", "gus@gmail.com", EMAIL_ID, bot="apple", tags=TAGS),  # machine first
        engagement(TEST_DOMAIN, "opened", "Gus@GMAIL.com", EMAIL_ID, tags=TAGS),  # then a human
        engagement(TEST_DOMAIN, "clicked", "ann@gmail.com", EMAIL_ID, tags=TAGS),
        engagement(TEST_DOMAIN, "opened", "ann@gmail.com", "second0000000000000000000", tags=TAGS),
    ]
    server.run(gw.record_events(opens[:3]))
    server.run(gw.record_events(opens[3:]))
    server.run(gw.record_events([engagement(TEST_DOMAIN, "clicked", "ann@gmail.com", EMAIL_ID, tags=TAGS),
                                 engagement(TEST_DOMAIN, "unsubscribed", "bo@hotmail.co.uk", EMAIL_ID, tags=TAGS)]))
    other = "second0000000000000000000"
    server.run(gw.record_events([  # links of the second send: a bot's click, a long URL, no URL
        engagement(TEST_DOMAIN, "clicked", "ann@gmail.com", other, tags=TAGS, url="https://blog.example.com/a"),
        engagement(TEST_DOMAIN, "clicked", "ANN@gmail.com", other, tags=TAGS, url="https://blog.example.com/a"),
        engagement(TEST_DOMAIN, "clicked", "bo@hotmail.co.uk", other, bot="generic", tags=TAGS,
                   url="https://blog.example.com/a"),
        engagement(TEST_DOMAIN, "clicked", "bo@hotmail.co.uk", other, tags=TAGS, url=LONG + "1"),
        engagement(TEST_DOMAIN, "clicked", "cy@yahoo.com", other, tags=TAGS, url=None)]))
    want = check_rollups(server, TEST_DOMAIN)

    first = server.run(queries.send_summary(gw, TEST_DOMAIN, EMAIL_ID))
    c = first.counts
    assert c["accepted"] == 12 and c["delivered"] == 10  # 7 members, success, complaint, tempfail on retry
    assert c["failed_permanent"] == 2 and c["suppressed"] == 1 and c["failed_temporary"] == 1
    assert c["complained"] == 1 and c["unsubscribed"] == 1
    assert (c["opened"], c["opened_unique"], c["opened_unique_human"], c["opened_machine"]) == (4, 2, 2, 1)
    assert (c["clicked"], c["clicked_unique"]) == (2, 1)
    assert first.funnel == [("accepted", 12), ("delivered", 10), ("opened", 2), ("clicked", 1)]
    assert first.rates["click_to_open_rate"] == 0.5 and first.rates["unique_opened_rate"] == 2 / 10
    assert first.subject.startswith("Hello Member") and first.tags == TAGS
    assert want.tags["bulk-email"]["accepted"] == 14  # tags count case-insensitively
    links = server.run(queries.top_links(gw, TEST_DOMAIN, other, who="all"))
    assert [(r.url, r.clicks, r.unique) for r in links] == [("https://blog.example.com/a", 3, 2), (LONG[:1024], 1, 1)]
    assert [r.share for r in links] == [0.75, 0.25]
    human = server.run(queries.top_links(gw, TEST_DOMAIN, other, who="human"))
    assert [(r.clicks, r.unique, r.share) for r in human] == [(2, 1, 2 / 3), (1, 1, 1 / 3)]

    # Backfill on emptied roll-ups gives back exactly what the live hook wrote; twice too.
    live = server.run(rollup_rows(gw, TEST_DOMAIN))
    server.run(wipe(gw, TEST_DOMAIN))
    assert server.run(rollup_rows(gw, TEST_DOMAIN))["counts"] == []
    done = server.run(backfill(gw, TEST_DOMAIN, page_size=5))
    assert done.events == sum(1 for _ in server.run(all_events(gw, TEST_DOMAIN)))
    assert server.run(rollup_rows(gw, TEST_DOMAIN)) == live
    server.run(backfill(gw, TEST_DOMAIN, since=time.time() - 3600))
    assert server.run(rollup_rows(gw, TEST_DOMAIN)) == live
    check_rollups(server, TEST_DOMAIN)


KINDS = st.sampled_from(["accepted", "delivered", "opened", "clicked", "unsubscribed", "complained",
                         "failed-permanent", "failed-temporary", "failed-suppress"])
RECIPIENTS = st.sampled_from(["a@gmail.com", "A@gmail.com", "b@outlook.com", "c@aol.com", "d@me.com",
                              "e@proton.me", "f@example.com", "g@live.example.org"])
#: Two long URLs alike in their first 1024 characters stay two links.
LONG = "https://blog.example.com/r?" + "x" * 1100
URLS = st.sampled_from([None, "https://blog.example.com/a", "https://blog.example.com/b", "mailto:x@example.com",
                        LONG + "1", LONG + "2"])
SPECS = st.lists(st.tuples(KINDS, RECIPIENTS, st.sampled_from(["s1", "s2", None]), st.booleans(),
                           st.lists(st.sampled_from(["news", "NEWS", "weekly"]), max_size=2), URLS),
                 min_size=1, max_size=40)


def make_events(domain: str, specs) -> list[Event]:
    out = []
    for kind, recipient, send, bot, tags, url in specs:
        if kind.startswith("failed-"):
            what = kind.split("-")[1]
            out.append(failure(domain, recipient, send or "s0", severity="temporary" if what == "temporary"
                               else "permanent", reason="suppress-bounce" if what == "suppress" else "bounce",
                               tags=tags))
        elif kind in ("opened", "clicked", "unsubscribed"):
            out.append(engagement(domain, kind, recipient, send, bot="generic" if bot else "", tags=tags,
                                  message_id=None if send else f"plain-{recipient.lower()}@{domain}", url=url))
        else:
            out.append(plain(domain, kind, recipient, send or "s0", tags=tags))
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=SPECS, cuts=st.lists(st.integers(1, 40), max_size=4))
def test_random_event_mixes_roll_up_exactly(server, specs, cuts) -> None:
    domain = f"mix-{uuid.uuid4().hex[:10]}.example.com"  # a fresh domain per example
    events = make_events(domain, specs)
    edges = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    for lo, hi in zip(edges, edges[1:]):  # recorded in several calls, as event sources do
        server.run(server.gateway.record_events(events[lo:hi]))
    check_rollups(server, domain)
    live = server.run(rollup_rows(server.gateway, domain))
    server.run(wipe(server.gateway, domain))
    server.run(backfill(server.gateway, domain, page_size=7))
    assert server.run(rollup_rows(server.gateway, domain)) == live
