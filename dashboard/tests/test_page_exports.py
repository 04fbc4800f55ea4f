"""The CSV exports of the bounce explorer's group tables, a send's funnel and top links, the
Operations page and the Reputation page, on SQLite and MariaDB: each export holds exactly the
numbers its page shows (read back from the page's HTML for a seeded database), is linked from the
page, and writes hostile values (script tags, ``=cmd`` formula prefixes, CR/LF) inert: no cell a
spreadsheet would run as a formula, and a CR/LF inside a value never splits a row. In chromium:
every link downloads under its name, with screenshots of the pages."""

from __future__ import annotations

import csv
import html
import io
import re
import time
import uuid

import httpx
import pytest

import postgate_dashboard
import postgate_mysql
from postgate import Event, hookimpl
from postgate.builtin.outbox import Outbox
from postgate.operations import Quota
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate.testing.mariadb import throwaway_database
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.web.accounts import create_user
from postgate_dashboard.web.operations_view import duration
from postgate_dashboard.web.table_export import FORMULA_START

PASSWORD = "correct horse battery"
HOSTILE_URL = "=cmd|' /c calc'!A1"
CRLF_URL = "https://blog.example.com/a\r\n=2+3,\"x\""
HOSTILE_CODE = "=1+2"
HOSTILE_ENHANCED = "@SUM(1)"
HOSTILE_ID = "=HYPERLINK(\"http://x\")<script>window.__pwned=1</script>"
HOSTILE_TAG = "-2+3\r\n<script>window.__pwned=2</script>"


class QuotaOutbox(Outbox):
    """The outbox, reporting a provider quota as SES would."""

    name = "quota-outbox"

    async def quota(self) -> Quota:
        return Quota(max_24h=50_000, sent_24h=1_234, max_rate=14.0, source="=test")


class QuotaPlugin:
    @hookimpl
    def register_deliveries(self, register):
        register("quota-outbox", QuotaOutbox)


def live(live_server, url: str | None):
    settings = {"dashboard": {"cookie_secure": False}}
    if url is None:
        return live_server(plugins=[postgate_dashboard, QuotaPlugin()], background=True,
                           backends={"delivery": "quota-outbox"}, plugin_settings=settings)
    return live_server(plugins=[postgate_mysql, postgate_dashboard, QuotaPlugin()], background=True,
                       backends={"storage": "mysql", "delivery": "quota-outbox"},
                       plugin_settings={**settings, "mysql": {"url": url}})


@pytest.fixture(params=["sqlite", "mysql"])
def server(request, live_server):
    if request.param == "sqlite":
        yield live(live_server, None)
        return
    with throwaway_database() as url:
        srv = live(live_server, url)
        yield srv
        srv.stop()


def event(kind: str, recipient: str, **payload) -> Event:
    body = {"event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
            "user-variables": {"email-id": "big"}, "message": {"headers": {"message-id": f"big@{TEST_DOMAIN}",
                                                                          "subject": "Hello"}},
            **payload}
    return Event(domain=TEST_DOMAIN, event=kind, recipient=recipient, message_id=f"big@{TEST_DOMAIN}",
                 payload=body, key=f"{kind}:{uuid.uuid4().hex}", email_id="big", tags=[],
                 severity=payload.get("severity"))


def failure(recipient: str, severity: str, code: object, enhanced: str, reason: str = "bounce") -> Event:
    return event("failed", recipient, severity=severity, reason=reason,
                 **{"delivery-status": {"code": code, "enhanced-code": enhanced, "message": "<b>no</b>"}})


def seed(server) -> None:
    """Send ``big``: 40 accepted, 30 delivered, opens and clicks on four links (one a formula,
    one with CR/LF), failures of three types over several codes and providers, a complaint."""
    people = [f"r{i}@{'gmail.com' if i % 3 else 'yahoo.com'}" for i in range(40)]
    events = [event("accepted", p) for p in people]
    events += [event("delivered", p) for p in people[:30]]
    events += [event("opened", p, **{"client-info": {"client-type": "browser"}}) for p in people[:20]]
    urls = [HOSTILE_URL, CRLF_URL, "https://blog.example.com/1", "https://blog.example.com/2"]
    events += [event("clicked", p, url=urls[i % len(urls)], **{"client-info": {"client-type": "browser"}})
               for i, p in enumerate(people[:14])]
    events += [failure(p, "permanent", 550, "5.1.1") for p in people[30:35]]
    events += [failure(p, "permanent", 554, "5.7.1") for p in people[35:37]]
    events += [failure(people[37], "permanent", HOSTILE_CODE, HOSTILE_ENHANCED)]
    events += [failure(p, "temporary", 421, "4.7.0", "generic") for p in people[20:24]]
    events += [event("complained", people[3])]
    server.run(server.gateway.record_events(events))
    server.run(flush(server.gateway))


def send_newsletter(server) -> None:
    """A newsletter through the API and the outbox, with a hostile email id and tag."""
    data = {"from": f"Blog <blog@{TEST_DOMAIN}>", "to": [f"m{i}@example.org" for i in range(12)],
            "subject": "Issue", "text": "Hi", "o:tag": [HOSTILE_TAG, "weekly"], "v:email-id": HOSTILE_ID}
    response = httpx.post(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=data, headers=basic_auth(), timeout=30)
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 60
    while True:
        rows = [n for n in server.run(server.gateway.operations_snapshot()).newsletters if n.email_id == HOSTILE_ID]
        if rows and rows[0].done == rows[0].total:
            server.run(flush(server.gateway))
            return
        assert time.monotonic() < deadline, "the newsletter was not sent"
        time.sleep(0.05)


def signed_in(server) -> httpx.Client:
    server.run(create_user(server.gateway, "pub@example.com", PASSWORD, "viewer"))
    client = httpx.Client(base_url=server.url, timeout=30)
    form = client.get("/dashboard/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
    assert client.post("/dashboard/login", data={"email": "pub@example.com", "password": PASSWORD,
                                                  "csrf_token": token}).status_code == 303
    return client


def export(client: httpx.Client, page: str, link_id: str, filename: str) -> list[dict[str, str]]:
    """The CSV behind the page's link ``link_id``: checked inert, as dicts by column."""
    found = re.search(rf'<a href="([^"]+)" download id="{link_id}">Export CSV</a>', page)
    assert found, f"no {link_id} link"
    response = client.get(html.unescape(found[1]))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert f'filename="{filename}"' in response.headers["content-disposition"], response.headers
    lines = list(csv.reader(io.StringIO(response.text, newline="")))
    for line in lines:
        assert len(line) == len(lines[0]), line  # a CR/LF in a value never splits a row
        for cell in line:
            assert not cell.startswith(FORMULA_START), cell
    return [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]


def share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total and n else "\u2014"


def pct(fraction: str, places: int = 1) -> str:
    return "\u2014" if fraction == "" else f"{100 * float(fraction):.{places}f}%"


def check_bounces(client: httpx.Client) -> None:
    query = f"domain={TEST_DOMAIN}&period=7d"
    page = client.get(f"/dashboard/bounces?{query}").text
    today = time.strftime("%Y-%m-%d", time.gmtime())

    def name(table: str) -> str:
        return rf"bounces-by-{table}-{TEST_DOMAIN}-\d{{4}}-\d\d-\d\d-{today}.csv"

    def rows(table_id: str, attrs: tuple[str, ...]) -> list[tuple[str, ...]]:
        body = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
        found = []
        for tr in re.findall(r"<tr (data-kind=.*?)</tr>", body, re.S):
            values = tuple(html.unescape(re.search(rf'data-{a}="([^"]*)"', tr)[1]) for a in attrs)
            found.append((*values, re.search(r'class="(?:num )?n"[^>]*>([\d,]+)<', tr)[1].replace(",", "")))
        return found

    def named(link_id: str, table: str) -> list[dict[str, str]]:
        link = re.search(rf'<a href="([^"]+)" download id="{link_id}">', page)[1]
        assert f"table={table}" in link and "period=7d" in link
        got = client.get(html.unescape(link))
        assert re.search(name(table), got.headers["content-disposition"]), got.headers["content-disposition"]
        return export(client, page, link_id, re.search(name(table), got.headers["content-disposition"])[0])

    types = named("by-type-csv", "type")
    shown = rows("by-type", ("kind",))
    assert [(r["type"], r["failures"]) for r in types] == shown
    total = sum(int(n) for _, n in shown)
    assert total == 13  # 8 hard bounces, 4 deferrals, 1 complaint
    shares = re.findall(r'<td class="num muted">([^<]*)</td>', page.split('id="by-type"', 1)[1].split("</table>")[0])
    assert [pct(r["share"]) for r in types] == shares == [share(int(n), total) for _, n in shown]
    codes = named("by-code-csv", "code")
    assert [(r["type"], r["code"].removeprefix("'"), r["enhanced_code"].removeprefix("'"), r["failures"])
            for r in codes] == rows("by-code", ("kind", "code", "enhanced"))
    assert ("'" + HOSTILE_CODE, "'" + HOSTILE_ENHANCED) in [(r["code"], r["enhanced_code"]) for r in codes]
    providers = named("by-provider-csv", "provider")
    assert [(r["type"], r["provider"], r["failures"]) for r in providers] == rows("by-provider", ("kind", "provider"))
    groups = named("groups-csv", "groups")
    assert [(r["type"], r["code"].removeprefix("'"), r["enhanced_code"].removeprefix("'"), r["provider"],
             r["failures"]) for r in groups] == rows("groups", ("kind", "code", "enhanced", "provider"))
    assert sum(int(r["failures"]) for r in groups) == total
    assert client.get(f"/dashboard/bounces.csv?{query}&table=bogus").status_code == 400
    assert client.get(f"/dashboard/bounces.csv?{query}").status_code == 400
    assert client.get(f"/dashboard/bounces.csv?domain={TEST_DOMAIN}&period=1y&table=type").status_code == 400


def check_send(client: httpx.Client) -> None:
    for who in ("human", "all"):
        page = client.get(f"/dashboard/send?domain={TEST_DOMAIN}&key=big&who={who}").text
        funnel = export(client, page, "funnel-csv", f"funnel-{TEST_DOMAIN}-big-{who}.csv")
        shown = re.findall(r'<tr data-step="(\w+)">.*?<td class="num n">([\d,]+)</td><td class="num muted">([^<]*)</td>',
                           page)
        assert [(r["step"].lower(), r["recipients"], pct(r["share_of_accepted"])) for r in funnel] == [
            (step, n.replace(",", ""), s) for step, n, s in shown]
        assert [r["recipients"] for r in funnel] == ["40", "40", "30", "20", "14"]
        links = export(client, page, "links-csv", f"links-{TEST_DOMAIN}-big-{who}.csv")
        table = page.split('id="links"', 1)[1].split("</table>", 1)[0]
        shown_links = re.findall(r'<td class="url">(?:<a [^>]*>)?(.*?)(?:</a>)?</td><td class="num clicks">([\d,]+)</td>'
                                 r'<td class="num unique">([\d,]+)</td><td class="share"><span class="rate">([^<]*)</span>',
                                 table, re.S)
        assert len(shown_links) == len(links) == 4
        assert [(r["url"], r["clicks"], r["unique_clickers"], pct(r["share_of_link_clicks"])) for r in links] == [
            ("'" + html.unescape(u) if html.unescape(u).startswith(FORMULA_START) else html.unescape(u), c, q, s)
            for u, c, q, s in shown_links]
        urls = {r["url"] for r in links}
        assert "'" + HOSTILE_URL in urls and CRLF_URL in urls
    assert client.get(f"/dashboard/send.csv?domain={TEST_DOMAIN}&key=big&table=curve").status_code == 400
    assert client.get(f"/dashboard/send.csv?domain={TEST_DOMAIN}&key=big&table=links&who=bots").status_code == 400
    assert client.get(f"/dashboard/send.csv?domain={TEST_DOMAIN}&key=nope&table=funnel").status_code == 404


def tile(page: str, ident: str) -> str:
    return html.unescape(re.search(rf'id="{ident}">([^<]*)<', page)[1])


def check_operations(client: httpx.Client) -> None:
    page = client.get("/dashboard/operations").text
    state = export(client, page, "state-csv", "operations-state.csv")
    assert len(state) == 1
    s = state[0]
    for ident, column in (("queue-depth", "queue_depth"), ("in-doubt", "in_doubt"), ("dead-jobs", "dead_jobs"),
                          ("send-rate", "send_rate_per_minute"), ("max-rate", "max_rate_per_minute"),
                          ("sent-24h", "sent_24h"), ("max-24h", "max_24h"), ("workers-alive", "workers_alive")):
        assert tile(page, ident) == f"{int(s[column]):,}", ident
    assert (s["max_rate_per_minute"], s["sent_24h"], s["max_24h"], s["quota_source"]) == ("840", "1234", "50000", "'=test")
    assert tile(page, "oldest-job-age") == (duration(int(s["oldest_job_age_seconds"]))
                                            if s["oldest_job_age_seconds"] else "\u2014")
    newsletters = export(client, page, "newsletters-csv", "operations-newsletters.csv")
    body = page.split('id="newsletters"', 1)[1].split("</table>", 1)[0]
    shown = re.findall(r'<span class="strong">(.*?)</span><br><span class="muted">(.*?)</span></td>.*?'
                       r'<td class="num">([\d,]+) / ([\d,]+)</td>.*?<span class="muted">([\d.]+)%</span></td>\s*'
                       r'<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>', body, re.S)
    assert [("'" + html.unescape(label) if html.unescape(label).startswith(FORMULA_START) else html.unescape(label),
             html.unescape(domain), done.replace(",", ""), total.replace(",", ""), percent, doubt, failed)
            for label, domain, done, total, percent, doubt, failed in shown] == [
        (r["newsletter"], r["domain"], r["sent"], r["total"], r["percent"], r["in_doubt"], r["failed"])
        for r in newsletters]
    mine = [r for r in newsletters if r["newsletter"] == "'" + HOSTILE_ID]
    assert len(mine) == 1 and (mine[0]["sent"], mine[0]["total"]) == ("12", "12")
    # The gateway keeps a tag on one line; its formula start is made inert.
    assert mine[0]["tags"] == "'" + HOSTILE_TAG.replace("\r\n", "") + " weekly"
    workers = export(client, page, "workers-csv", "operations-workers.csv")
    body = page.split('id="workers"', 1)[1].split("</table>", 1)[0]
    shown = re.findall(r'<td class="label">([^<]*)</td><td>([^<]*)</td><td class="num">(\d+)</td><td>(alive|<span)',
                       body)
    assert [(n, h, p, "alive" if a == "alive" else "silent") for n, h, p, a in shown] == [
        (r["loop"], r["host"], r["pid"], r["state"]) for r in workers]
    assert len(workers) >= 1 and workers[0]["state"] == "alive"
    assert client.get("/dashboard/operations.csv").status_code == 400
    assert client.get("/dashboard/operations.csv?table=alerts").status_code == 400


def check_reputation(client: httpx.Client) -> None:
    page = client.get(f"/dashboard/reputation?domain={TEST_DOMAIN}").text
    rows = export(client, page, "reputation-csv", f"reputation-{TEST_DOMAIN}.csv")
    assert len(rows) == 4
    for row in rows:
        section = page.split(f'id="{row["rate"]}"', 1)[1].split("</section>", 1)[0]
        tr = section.split(f'data-window="{row["window"]}">', 1)[1].split("</tr>", 1)[0]
        assert re.search(r'class="num rate">([^<]*)<', tr)[1] == pct(row["value"], 2)
        assert re.search(r'class="num n">([\d,]+)<', tr)[1].replace(",", "") == row["count"]
        assert re.search(r'class="num of">([\d,]+)<', tr)[1].replace(",", "") == row["of"]
        assert re.search(r'class="level level-(\w+)">([^<]*)<', tr).groups() == (row["level"], row["standing"])
        assert abs(float(row["value"]) - int(row["count"]) / int(row["of"])) < 1e-6, row  # the row's own n / of
    bounce = {r["window"]: r for r in rows if r["rate"] == "sent_bounce_rate"}
    # 8 hard bounces of 50 sent (42 delivered + 8 bounced; 52 accepted): SES's bounce rate.
    assert (bounce["7 days"]["count"], bounce["7 days"]["of"], bounce["7 days"]["denominator"]) == ("8", "50", "sent")


def test_page_exports_hold_the_numbers_the_pages_show(server) -> None:
    seed(server)
    send_newsletter(server)
    client = signed_in(server)
    check_bounces(client)
    check_send(client)
    check_operations(client)
    check_reputation(client)
    for path in ("/dashboard/bounces.csv?table=type", "/dashboard/send.csv?key=big&table=funnel",
                 "/dashboard/operations.csv?table=state", "/dashboard/reputation.csv"):
        outsider = httpx.get(f"{server.url}{path}", timeout=30)
        assert outsider.status_code in (302, 303) and "/dashboard/login" in outsider.headers["location"], path
    client.close()


def test_page_export_links_in_the_browser(browser, live_server, screenshots) -> None:
    server = live(live_server, None)
    seed(server)
    send_newsletter(server)
    server.run(create_user(server.gateway, "pub@example.com", PASSWORD, "viewer"))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", "pub@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    def downloads(url: str, links: dict[str, str], shot: str) -> None:
        page.goto(url)
        for link_id, prefix in links.items():
            with page.expect_download() as download:
                page.click(f"#{link_id}")
            assert download.value.suggested_filename.startswith(prefix), download.value.suggested_filename
        page.screenshot(path=screenshots / shot, full_page=True)

    downloads(f"{server.url}/dashboard/bounces?domain={TEST_DOMAIN}&period=7d",
              {"by-type-csv": f"bounces-by-type-{TEST_DOMAIN}-", "by-code-csv": f"bounces-by-code-{TEST_DOMAIN}-",
               "by-provider-csv": f"bounces-by-provider-{TEST_DOMAIN}-", "groups-csv": f"bounces-by-groups-{TEST_DOMAIN}-"},
              "bounces-exports.png")
    downloads(f"{server.url}/dashboard/send?domain={TEST_DOMAIN}&key=big&who=all",
              {"funnel-csv": f"funnel-{TEST_DOMAIN}-big-all.csv", "links-csv": f"links-{TEST_DOMAIN}-big-all.csv"},
              "send-exports.png")
    operations = {"state-csv": "operations-state.csv", "newsletters-csv": "operations-newsletters.csv",
                  "workers-csv": "operations-workers.csv"}
    downloads(f"{server.url}/dashboard/operations", operations, "operations-exports.png")
    # The live stream swaps in a fresh fragment: its links are there and download the same.
    page.evaluate("document.querySelectorAll('#live a[download]').forEach(a => a.dataset.old = '1')")
    page.wait_for_selector("#state-csv:not([data-old])", timeout=20_000)
    for link_id, name in operations.items():
        assert page.locator(f"#{link_id}:not([data-old])").count() == 1
        with page.expect_download() as download:
            page.click(f"#{link_id}")
        assert download.value.suggested_filename == name
    downloads(f"{server.url}/dashboard/reputation?domain={TEST_DOMAIN}",
              {"reputation-csv": f"reputation-{TEST_DOMAIN}.csv"}, "reputation-exports.png")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    context.close()
