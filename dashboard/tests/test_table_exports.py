"""Tables and their exports on SQLite and MariaDB: the period exports of the overview and the
providers page, the newsletters list, and who opened or clicked a send. The list: the human/all toggle (human by default) in the URL
and kept by the page links, keyset pages, and the streamed CSV export, every figure checked
against counts made from ``GET /v3/{domain}/events``; the export read in small keyset steps gives
the same rows; formula-like subjects are made inert; the page in chromium with its screenshot.
Who opened or clicked: every open or click event of one send (not of another), newest first, in
keyset pages and as CSV, with machine events left out under *human*, equal to what the events API
lists; a hostile user agent renders inert."""

from __future__ import annotations

import csv
import html
import io
import re
import time
import uuid
from collections import defaultdict

import httpx
import pytest

import postgate_dashboard
import postgate_mysql
from postgate import Event
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate.testing.mariadb import throwaway_database
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.web.accounts import create_user
from postgate_dashboard.web.analytics_view import sends_csv_rows

PASSWORD = "correct horse battery"
SENDS = 30
HOSTILE_SUBJECT = "=HYPERLINK(\"http://x\")"
ROW = re.compile(r'<tr data-send="([^"]+)">.*?<td class="num opened">([^<]*)</td>'
                 r'<td class="num clicked">([^<]*)</td>', re.S)
NEXT = re.compile(r'<a href="([^"]+)" rel="next">')


def live(live_server, url: str | None):
    settings = {"dashboard": {"cookie_secure": False}}
    if url is None:
        return live_server(plugins=[postgate_dashboard], background=False, plugin_settings=settings)
    return live_server(plugins=[postgate_mysql, postgate_dashboard], background=False,
                       backends={"storage": "mysql"}, plugin_settings={**settings, "mysql": {"url": url}})


@pytest.fixture(params=["sqlite", "mysql"])
def server(request, live_server):
    if request.param == "sqlite":
        yield live(live_server, None)
        return
    # In a thread of its own: the browser tests' playwright loop may be running in this one.
    with throwaway_database() as url:
        srv = live(live_server, url)
        yield srv
        srv.stop()


def event(kind: str, send: int, recipient: str, bot: str = "", subject: str = "") -> Event:
    email_id = f"send{send:02d}"
    payload = {"event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
               "user-variables": {"email-id": email_id}, "tags": ["news"],
               "message": {"headers": {"message-id": f"{email_id}@{TEST_DOMAIN}", "subject": subject}}}
    if kind in ("opened", "clicked"):
        payload["client-info"] = {"client-type": "browser", "bot": bot}
    if kind == "failed":
        payload.update(severity="permanent", reason="bounce")
    return Event(domain=TEST_DOMAIN, event=kind, recipient=recipient, message_id=f"{email_id}@{TEST_DOMAIN}",
                 payload=payload, key=f"{kind}:{uuid.uuid4().hex}", email_id=email_id, tags=["news"])


def seed(server) -> None:
    """30 sends of three recipients: varied deliveries, human and machine opens and clicks."""
    events: list[Event] = []
    for n in range(SENDS):
        people = [f"p{i}.{n}@gmail.com" for i in range(3)]
        subject = HOSTILE_SUBJECT if n == 3 else f"Issue {n}"
        events += [event("accepted", n, p, subject=subject) for p in people]
        events += [event("delivered", n, p) for p in people[: 2 + n % 2]]
        if n % 2 == 0:
            events.append(event("failed", n, people[2]))
        events.append(event("opened", n, people[0], bot="apple" if n % 3 == 0 else ""))
        events.append(event("opened", n, people[1], bot="apple"))  # a machine open only, for every send
        if n % 4 == 0:
            events += [event("clicked", n, people[0]), event("clicked", n, people[1], bot="generic")]
    server.run(server.gateway.record_events(events))
    server.run(flush(server.gateway))


def expected(server) -> dict[str, dict[str, int]]:
    """Per send, counted the slow way from the events API."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    firsts: set[tuple] = set()
    url = f"{server.url}/v3/{TEST_DOMAIN}/events?ascending=yes&limit=300"
    while True:
        page = httpx.get(url, headers=basic_auth(), timeout=30).json()
        if not page["items"]:
            return counts
        for item in page["items"]:
            c, send = counts[item["user-variables"]["email-id"]], item["user-variables"]["email-id"]
            kind = item["event"]
            c[kind] += 1
            if kind in ("opened", "clicked"):
                human = not item["client-info"].get("bot")
                for variant in ("_unique", "_unique_human") if human else ("_unique",):
                    if (send, item["recipient"], kind + variant) not in firsts:
                        firsts.add((send, item["recipient"], kind + variant))
                        c[kind + variant] += 1
        url = page["paging"]["next"]


def pct(top: int, bottom: int) -> str:
    return f"{100 * top / bottom:.1f}%" if bottom else "\u2014"


def ratio(top: int, bottom: int) -> str:
    return f"{top / bottom:.6f}" if bottom else ""


def signed_in(server) -> httpx.Client:
    server.run(create_user(server.gateway, "pub@example.com", PASSWORD, "viewer"))
    client = httpx.Client(base_url=server.url, timeout=30)
    form = client.get("/dashboard/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
    assert client.post("/dashboard/login", data={"email": "pub@example.com", "password": PASSWORD,
                                                  "csrf_token": token}).status_code == 303
    return client


def listed(client: httpx.Client, path: str) -> tuple[list[tuple[str, str, str]], str | None]:
    page = client.get(path)
    assert page.status_code == 200, page.text
    nxt = NEXT.search(page.text)
    return ROW.findall(page.text), html.unescape(nxt[1]) if nxt else None


def test_the_newsletters_list_toggles_pages_and_exports(server) -> None:
    seed(server)
    want = expected(server)
    assert len(want) == SENDS
    client = signed_in(server)
    shown: dict[str, list[tuple[str, str, str]]] = {}
    for who, opened, clicked in (("human", "opened_unique_human", "clicked_unique_human"),
                                 ("all", "opened_unique", "clicked_unique")):
        query = f"?domain={TEST_DOMAIN}" + ("" if who == "human" else "&who=all")  # human is the default
        first, nxt = listed(client, "/dashboard/sends" + query)
        assert len(first) == 25 and nxt is not None and f"who={who}" in nxt
        rest, last = listed(client, "/dashboard/sends" + nxt)
        assert len(rest) == SENDS - 25 and last is None
        rows = shown[who] = first + rest
        assert sorted(key for key, _, _ in rows) == sorted(want)
        for key, open_rate, click_rate in rows:
            c = want[key]
            assert (open_rate, click_rate) == (pct(c[opened], c["delivered"]), pct(c[clicked], c["delivered"])), key

        export = client.get("/dashboard/sends.csv" + query)
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        assert f"newsletters-{TEST_DOMAIN}-{who}.csv" in export.headers["content-disposition"]
        lines = list(csv.reader(io.StringIO(export.text)))
        header, body = lines[0], lines[1:]
        assert [r[header.index("send")] for r in body] == [key for key, _, _ in rows]  # the pages' order
        suffix = "_human" if who == "human" else ""
        for r in body:
            got, c = dict(zip(header, r, strict=True)), want[r[header.index("send")]]
            hard = c["failed"]  # no suppression drops here
            sent = c["delivered"] + hard
            assert (got["accepted"], got["delivered"], got["hard_bounces"], got[f"unique_opens{suffix}"],
                    got[f"unique_clicks{suffix}"]) == tuple(str(n) for n in (
                        c["accepted"], c["delivered"], hard, c[opened], c[clicked]))
            assert got["delivered_rate"] == ratio(c["delivered"], sent)
            assert got[f"unique_open_rate{suffix}"] == ratio(c[opened], c["delivered"])
            assert got[f"click_to_open_rate{suffix}"] == ratio(c[clicked], c[opened])
            assert got["tags"] == "news" and got["email_id"] == got["send"]
        subjects = {r[header.index("send")]: r[header.index("subject")] for r in body}
        assert subjects["send03"] == "'" + HOSTILE_SUBJECT and subjects["send04"] == "Issue 4"
        # The same rows read in keyset steps of 7 (five steps, the last one short).
        stepped = server.run(collect(sends_csv_rows(server.gateway, TEST_DOMAIN, who, step=7)))
        assert [[str(c) for c in r] for r in stepped] == body
    assert shown["human"] != shown["all"]  # every send has a machine open

    assert client.get(f"/dashboard/sends?domain={TEST_DOMAIN}&who=bots").status_code == 400
    assert client.get(f"/dashboard/sends.csv?domain={TEST_DOMAIN}&who=bots").status_code == 400
    outsider = httpx.get(f"{server.url}/dashboard/sends.csv?domain={TEST_DOMAIN}", timeout=30)
    assert outsider.status_code in (302, 303) and "/dashboard/login" in outsider.headers["location"]
    client.close()


async def collect(rows) -> list:
    return [row async for row in rows]


def test_the_newsletters_toggle_in_the_browser(browser, live_server, screenshots) -> None:
    server = live(live_server, None)
    seed(server)
    server.run(create_user(server.gateway, "pub@example.com", PASSWORD, "viewer"))
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", "pub@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{server.url}/dashboard/sends?domain={TEST_DOMAIN}")
    assert "Unique opens (human)" in page.text_content("#sends thead")
    human = page.locator("#sends tbody tr").first.locator(".opened").inner_text()
    page.select_option("#sends-filter select[name=who]", "all")
    page.click("#sends-filter button[type=submit]")
    assert "who=all" in page.url
    assert "(human)" not in page.text_content("#sends thead")
    assert page.locator("#sends tbody tr").first.locator(".opened").inner_text() != human
    assert "who=all" in page.get_attribute("#sends-csv", "href")
    assert "who=all" in page.locator("#sends tbody tr").first.locator("a.subject").get_attribute("href")
    assert "who=all" in page.get_attribute("a[rel=next]", "href")
    with page.expect_download() as download:
        page.click("#sends-csv")
    assert download.value.suggested_filename == f"newsletters-{TEST_DOMAIN}-all.csv"
    page.emulate_media(color_scheme="light")
    page.screenshot(path=screenshots / "sends-toggle-light.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "sends-toggle-phone-dark.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    page.set_viewport_size({"width": 1280, "height": 900})

    # The period exports, from the overview's numbers and the providers page.
    page.goto(f"{server.url}/dashboard/overview?domain={TEST_DOMAIN}&period=30d")
    page.click("#chart-table summary")
    with page.expect_download() as download:
        page.click("#overview-csv")
    assert download.value.suggested_filename.startswith(f"overview-{TEST_DOMAIN}-")
    page.screenshot(path=screenshots / "overview-numbers-export.png", full_page=True)
    page.goto(f"{server.url}/dashboard/providers?domain={TEST_DOMAIN}&period=7d")
    with page.expect_download() as download:
        page.click("#providers-csv")
    assert download.value.suggested_filename.startswith(f"providers-{TEST_DOMAIN}-")
    page.screenshot(path=screenshots / "providers-export.png", full_page=True)
    context.close()


ENGAGED_ROW = re.compile(r'<tr data-event-id="([^"]+)"')
HOSTILE_AGENT = "<script>window.__pwned=1</script>Mozilla"
HOSTILE_URL = "=cmd|' /c calc'!A1"
HOSTILE_REPLY = "<img src=x onerror=window.__pwned=2>=mailbox unknown"


def engagement(kind: str, email_id: str | None, recipient: str, bot: str = "", url: str = "") -> Event:
    message_id = f"{email_id or 'solo'}@{TEST_DOMAIN}"
    payload = {"event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
               "user-variables": {"email-id": email_id} if email_id else {},
               "message": {"headers": {"message-id": message_id, "subject": "Hello"}},
               "client-info": {"client-type": "browser", "client-name": "Firefox", "user-agent": HOSTILE_AGENT,
                               "bot": bot}}
    if url:
        payload["url"] = url
    return Event(domain=TEST_DOMAIN, event=kind, recipient=recipient, message_id=message_id, payload=payload,
                 key=f"{kind}:{uuid.uuid4().hex}", email_id=email_id, tags=[])


def seed_engagement(server) -> None:
    """Send ``big``: 60 human opens, 15 machine opens, 5 human and 3 machine clicks; send ``other``
    and a send without an email id (keyed by its message id) have opens of their own."""
    events = [engagement("accepted", "big", f"r{i}@gmail.com") for i in range(75)]
    events += [engagement("opened", "big", f"r{i}@gmail.com", bot="apple" if i >= 60 else "") for i in range(75)]
    events += [engagement("clicked", "big", f"r{i}@gmail.com", bot="generic" if i >= 5 else "",
                          url=HOSTILE_URL if i == 0 else f"https://blog.example.com/{i}") for i in range(8)]
    for i, (severity, reason, code, enhanced) in enumerate((("permanent", "bounce", 550, "5.1.1"),
                                                            ("permanent", "bounce", 554, "5.7.1"),
                                                            ("temporary", "generic", 421, "4.7.0"))):
        failed = engagement("failed", "big", f"r{i}@gmail.com")
        failed.severity = severity
        failed.payload.update(severity=severity, reason=reason, **{"delivery-status": {
            "code": code, "enhanced-code": enhanced, "message": HOSTILE_REPLY if i == 0 else "try later"}})
        events.append(failed)
    events += [engagement("complained", "big", "r3@gmail.com"), engagement("unsubscribed", "big", "r4@gmail.com")]
    events += [engagement("accepted", "other", "x@gmail.com"), engagement("opened", "other", "x@gmail.com")]
    events += [engagement("accepted", None, "solo@gmail.com"), engagement("opened", None, "solo@gmail.com")]
    server.run(server.gateway.record_events(events))
    server.run(flush(server.gateway))


def api_listing(server, kind: str, keep) -> list[dict]:
    """The events API's events of that type, newest first, that ``keep`` keeps."""
    items, url = [], f"{server.url}/v3/{TEST_DOMAIN}/events?ascending=no&limit=300&event={kind}"
    while True:
        page = httpx.get(url, headers=basic_auth(), timeout=30).json()
        if not page["items"]:
            return [item for item in items if keep(item)]
        items.extend(page["items"])
        url = page["paging"]["next"]


def test_who_opened_or_clicked_a_send(server) -> None:
    seed_engagement(server)
    client = signed_in(server)

    def of(send):
        return lambda item: item.get("user-variables", {}).get("email-id") == send

    deadline = time.monotonic() + 60  # the API shows the newest events once their second is closed
    while len(api_listing(server, "opened", of("big"))) < 75:
        assert time.monotonic() < deadline, "the events API did not show every open"
        time.sleep(0.2)
    for kind, who, count in (("opened", "human", 60), ("opened", "all", 75), ("clicked", "human", 5),
                             ("clicked", "all", 8)):
        want = [item["id"] for item in api_listing(server, kind, of("big"))
                if who == "all" or not item["client-info"].get("bot")]
        assert len(want) == count
        path = f"/dashboard/send/engaged?domain={TEST_DOMAIN}&key=big&event={kind}" + ("&who=all" if who == "all" else "")
        page = client.get(path)
        assert page.status_code == 200
        ids = ENGAGED_ROW.findall(page.text)
        nxt = NEXT.search(page.text)
        if count > 50:
            assert len(ids) == 50 and nxt is not None and f"who={who}" in nxt[1]
            rest = client.get("/dashboard/send/engaged" + html.unescape(nxt[1]))
            ids += ENGAGED_ROW.findall(rest.text)
            assert NEXT.search(rest.text) is None
        else:
            assert nxt is None
        assert ids == want, (kind, who)  # newest first, as the events API lists them
        assert "<script>window.__pwned" not in page.text and "&lt;script&gt;window.__pwned" in page.text

        export = client.get(path.replace("/engaged?", "/engaged.csv?"))
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(export.text)))
        header, body = lines[0], lines[1:]
        assert [r[header.index("event_id")] for r in body] == want
        assert {r[header.index("event")] for r in body} == {kind}
        machine = [r[header.index("machine")] for r in body]
        assert all(m == "" for m in machine) if who == "human" else "" in machine and set(machine) - {""}
        if kind == "clicked":
            assert "'" + HOSTILE_URL in [r[header.index("url")] for r in body]

    # Failures with their reasons, complaints and unsubscribes of the send, whatever the toggle.
    for kind, count in (("failed", 3), ("complained", 1), ("unsubscribed", 1)):
        want = [item["id"] for item in api_listing(server, kind, of("big"))]
        assert len(want) == count
        page = client.get(f"/dashboard/send/engaged?domain={TEST_DOMAIN}&key=big&event={kind}")
        assert ENGAGED_ROW.findall(page.text) == want, kind
        export = client.get(f"/dashboard/send/engaged.csv?domain={TEST_DOMAIN}&key=big&event={kind}")
        lines = list(csv.reader(io.StringIO(export.text)))
        header, body = lines[0], lines[1:]
        assert [r[header.index("event_id")] for r in body] == want
        if kind == "failed":
            assert "<img src=x" not in page.text and "&lt;img src=x" in page.text
            cells = sorted((r[header.index("severity")], r[header.index("reason")], r[header.index("code")],
                            r[header.index("enhanced_code")], r[header.index("provider_reply")]) for r in body)
            assert cells == [("permanent", "bounce", "550", "5.1.1", HOSTILE_REPLY),
                             ("permanent", "bounce", "554", "5.7.1", "try later"),
                             ("temporary", "generic", "421", "4.7.0", "try later")]
    send_page = client.get(f"/dashboard/send?domain={TEST_DOMAIN}&key=big").text
    assert "event=failed" in send_page and "event=unsubscribed" in send_page

    # A send without an email id is found by its message id; another send's events never show.
    solo = client.get(f"/dashboard/send/engaged?domain={TEST_DOMAIN}&key=solo@{TEST_DOMAIN}&event=opened")
    assert solo.status_code == 200 and 'data-recipient="solo@gmail.com"' in solo.text
    assert 'data-recipient="x@gmail.com"' not in solo.text and 'data-recipient="r0@gmail.com"' not in solo.text
    # The send's page links to both lists with its toggle.
    send = client.get(f"/dashboard/send?domain={TEST_DOMAIN}&key=big&who=all").text
    assert "engaged?domain=" in send and "event=clicked&amp;who=all" in send
    for bad in ("event=delivered", "who=bots"):
        assert client.get(f"/dashboard/send/engaged?domain={TEST_DOMAIN}&key=big&{bad}").status_code == 400
    assert client.get(f"/dashboard/send/engaged?domain={TEST_DOMAIN}&key=nope").status_code == 404
    assert client.get(f"/dashboard/send/engaged?domain={TEST_DOMAIN}&key=big&after=x").status_code == 400
    outsider = httpx.get(f"{server.url}/dashboard/send/engaged.csv?domain={TEST_DOMAIN}&key=big", timeout=30)
    assert outsider.status_code in (302, 303)
    client.close()


def test_who_clicked_in_the_browser(browser, live_server, screenshots) -> None:
    server = live(live_server, None)
    seed_engagement(server)
    server.run(create_user(server.gateway, "pub@example.com", PASSWORD, "viewer"))
    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", "pub@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{server.url}/dashboard/send?domain={TEST_DOMAIN}&key=big")
    page.click("#engaged-links a:has-text('clicked')")
    assert "event=clicked" in page.url and "who=human" in page.url
    deadline = time.monotonic() + 60  # rows show once the events' second is closed
    while page.locator("#engaged tbody tr").count() < 5:
        assert time.monotonic() < deadline, "the clicks did not show"
        time.sleep(0.5)
        page.reload()
    assert page.locator("#engaged tbody tr").count() == 5
    assert page.locator("#engaged .machine .tag").count() == 0
    page.select_option("#engaged-filter select[name=who]", "all")
    page.click("#engaged-filter button[type=submit]")
    assert "who=all" in page.url and page.locator("#engaged tbody tr").count() == 8
    assert page.locator("#engaged .machine .tag").count() == 3
    assert HOSTILE_AGENT in page.inner_text("#engaged") and page.locator("#engaged script").count() == 0
    with page.expect_download() as download:
        page.click("#engaged-csv")
    assert download.value.suggested_filename == f"clicked-{TEST_DOMAIN}-big-all.csv"
    page.emulate_media(color_scheme="light")
    page.screenshot(path=screenshots / "send-who-clicked-light.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "send-who-clicked-phone-dark.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"{server.url}/dashboard/send?domain={TEST_DOMAIN}&key=big")
    page.click("#failure-links a:has-text('failures')")
    assert "event=failed" in page.url and page.locator("#engaged tbody tr").count() == 3
    assert page.inner_text("#engaged-title") == "Failures"
    assert HOSTILE_REPLY in page.inner_text("#engaged") and page.locator("#engaged img").count() == 0
    page.screenshot(path=screenshots / "send-failures-dark.png", full_page=True)
    assert page.evaluate("window.__pwned") is None and dialogs == []
    context.close()


def test_the_overview_and_providers_export_what_the_events_api_counts(server) -> None:
    seed(server)
    want: dict[str, int] = defaultdict(int)
    for counts in expected(server).values():
        for kind, n in counts.items():
            want[kind] += n
    client = signed_in(server)
    page = client.get(f"/dashboard/overview?domain={TEST_DOMAIN}&period=7d&res=day").text
    assert f'href="/dashboard/overview.csv?domain={TEST_DOMAIN}&amp;period=7d&amp;res=day"' in page
    for query, rows in (("period=7d&res=day", (7, 8)), ("period=24h&res=hour", (24, 25))):
        export = client.get(f"/dashboard/overview.csv?domain={TEST_DOMAIN}&{query}")
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(export.text)))
        header, body = lines[0], lines[1:]
        assert header[0] == ("day_start_utc" if "day" in query else "hour_start_utc") and len(body) in rows
        assert body == sorted(body)  # oldest first
        summed = {name: sum(int(r[i]) for r in body) for i, name in enumerate(header) if i}
        for kind in ("accepted", "delivered", "opened", "clicked", "opened_unique", "opened_unique_human",
                     "clicked_unique", "clicked_unique_human"):
            assert summed[kind] == want[kind], kind
        assert summed["failed_permanent"] == want["failed"]
        # Each recipient opens and clicks at most once, so everything but the human firsts is a machine's.
        assert summed["opened_machine"] == want["opened"] - want["opened_unique_human"] == 40
        assert summed["clicked_machine"] == want["clicked"] - want["clicked_unique_human"] == 8
    assert client.get(f"/dashboard/overview.csv?domain={TEST_DOMAIN}&period=90d&res=hour").status_code == 400

    page = client.get(f"/dashboard/providers?domain={TEST_DOMAIN}&period=30d").text
    assert f'href="/dashboard/providers.csv?domain={TEST_DOMAIN}&amp;period=30d"' in page
    export = client.get(f"/dashboard/providers.csv?domain={TEST_DOMAIN}&period=30d")
    assert f"providers-{TEST_DOMAIN}-" in export.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(export.text)))
    got = dict(zip(lines[0], lines[1], strict=True))
    assert len(lines) == 2 and (got["provider"], got["provider_name"]) == ("gmail", "Gmail")
    assert (got["accepted"], got["delivered"], got["hard_bounces"], got["unique_opens"],
            got["unique_opens_human"]) == tuple(str(want[k]) for k in (
                "accepted", "delivered", "failed", "opened_unique", "opened_unique_human"))
    assert got["unique_open_rate_human"] == ratio(want["opened_unique_human"], want["delivered"])
    assert got["bounce_rate"] == ratio(want["failed"], want["delivered"] + want["failed"])
    assert client.get(f"/dashboard/providers.csv?domain={TEST_DOMAIN}&period=bogus").status_code == 400
    outsider = httpx.get(f"{server.url}/dashboard/overview.csv?domain={TEST_DOMAIN}", timeout=30)
    assert outsider.status_code in (302, 303)
    client.close()
