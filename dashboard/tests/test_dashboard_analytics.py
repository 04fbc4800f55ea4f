"""The analytics pages (overview, newsletters, one send, mailbox providers) in a real browser
(Debian's chromium through playwright) on a Ghost-shaped send through the API and the outbox, with
opens and clicks recorded through ``gateway.record_events``: every figure shown equals the one
counted from ``GET /v3/{domain}/events``; hostile subjects and tags render inert; the period
picker changes the figures. Screenshots go to ``tests/artifacts/screenshots/``."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, defaultdict

import httpx
import pytest

import postgate_dashboard
from postgate import Event
from postgate.operations import BatchProgress, OperationsSnapshot
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.web.accounts import create_user
from postgate_dashboard.web.analytics_view import progress_of

PASSWORD = "correct horse battery"
SIM = "simulator.amazonses.com"
OLDER, NEWER = "aaaa0000000000000000000a", "bbbb0000000000000000000b"
HOSTILE_SUBJECT = "<script>window.__pwned=1</script>News"
HOSTILE_TAG = "<img src=x onerror=window.__pwned=2>"
MEMBERS = ["ann@gmail.com", "bo@hotmail.co.uk", "cy@yahoo.com", "di@icloud.com"]
LINK_B = "https://blog.example.com/b?utm=x"
LINK_HOSTILE = "javascript:window.__pwned=3"
SIMULATED = [f"{kind}@{SIM}" for kind in ("success", "bounce", "complaint", "suppressionlist", "tempfail")]


@pytest.fixture
def server(live_server):
    return live_server(plugins=[postgate_dashboard])


def send_ghost_batch(server, addresses: list[str], email_id: str, subject: str) -> None:
    """One newsletter batch as Ghost posts it; returns once the outbox worker has sent it."""
    variables = {a: {"name": f"Member {i}"} for i, a in enumerate(addresses)}
    form = {"from": f"My Blog <noreply@{TEST_DOMAIN}>", "subject": subject, "html": "<p>Hi %recipient.name%</p>",
            "recipient-variables": json.dumps(variables), "v:email-id": email_id, "o:tracking-opens": "yes",
            "o:tag": ["ghost-email", HOSTILE_TAG], "to": addresses}
    response = httpx.post(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=form, headers=basic_auth(), timeout=30)
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 60
    while server.run(server.gateway.queue.depth()):
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(0.05)


def engagement(kind: str, recipient: str, send: str, bot: str = "", url: str = "https://blog.example.com/post") -> Event:
    payload = {"event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
               "tags": ["ghost-email"], "user-variables": {"email-id": send},
               "message": {"headers": {"message-id": f"{send}@{TEST_DOMAIN}"}}}
    if kind in ("opened", "clicked"):
        payload["client-info"] = {"client-type": "browser", "bot": bot}
    if kind == "clicked":
        payload["url"] = url
    return Event(domain=TEST_DOMAIN, event=kind, recipient=recipient, message_id=f"{send}@{TEST_DOMAIN}",
                 payload=payload, key=f"{kind}:{uuid.uuid4().hex}", email_id=send, tags=["ghost-email"])


def api_events(server) -> list[dict]:
    """Every event of the test domain, through the events API, following its pages."""
    items, url = [], f"{server.url}/v3/{TEST_DOMAIN}/events?ascending=yes&limit=300"
    while True:
        page = httpx.get(url, headers=basic_auth(), timeout=30).json()
        if not page["items"]:
            return items
        items.extend(page["items"])
        url = page["paging"]["next"]


def counted(items: list[dict]) -> tuple[Counter, dict[str, Counter], dict[str, Counter]]:
    """Totals, per send and per recipient domain, counted the slow way from the API's events."""
    totals, per_send, per_domain = Counter(), defaultdict(Counter), defaultdict(Counter)
    seen: set[tuple] = set()
    for item in items:
        send = item.get("user-variables", {}).get("email-id")
        recipient = item["recipient"].lower()
        names = [item["event"]]
        if item["event"] == "failed":
            names = ["failed_temporary" if item["severity"] == "temporary" else "failed_permanent"]
            if item["severity"] != "temporary" and item.get("reason", "").startswith("suppress"):
                names.append("suppressed")
        if item["event"] in ("opened", "clicked"):
            human = not item.get("client-info", {}).get("bot")
            for variant in ("_unique", "_unique_human") if human else ("_unique",):
                mark = (send, recipient, item["event"] + variant)
                if mark not in seen:
                    seen.add(mark)
                    names.append(item["event"] + variant)
        for name in names:
            totals[name] += 1
            per_send[send][name] += 1
            per_domain[recipient.rpartition("@")[2]][name] += 1
    return totals, per_send, per_domain


def pct(top: int, bottom: int) -> str:
    return f"{100 * top / bottom:.1f}%" if bottom else "\u2014"


def signed_in_page(browser, server):
    server.run(create_user(server.gateway, "pub@example.com", PASSWORD, "viewer"))
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", "pub@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return context, page


def card(page, rate: str):
    return page.locator(f"#cards [data-rate={rate}]")


def test_the_analytics_pages_show_what_the_events_api_counts(browser, server, screenshots) -> None:
    gw = server.gateway
    send_ghost_batch(server, MEMBERS + SIMULATED, OLDER, HOSTILE_SUBJECT)
    send_ghost_batch(server, MEMBERS[:2] + [f"bounce@{SIM}"], NEWER, "Second issue")
    server.run(gw.record_events([
        engagement("opened", "ann@gmail.com", OLDER), engagement("opened", "ann@gmail.com", OLDER),
        engagement("opened", "bo@hotmail.co.uk", OLDER, bot="apple"), engagement("clicked", "ann@gmail.com", OLDER),
        engagement("unsubscribed", "cy@yahoo.com", OLDER), engagement("opened", "ann@gmail.com", NEWER),
        engagement("opened", "bo@hotmail.co.uk", NEWER), engagement("clicked", "bo@hotmail.co.uk", NEWER),
        engagement("clicked", "ann@gmail.com", NEWER, url=LINK_B), engagement("clicked", "ann@gmail.com", NEWER, url=LINK_B),
        engagement("clicked", "bo@hotmail.co.uk", NEWER, bot="generic", url=LINK_B),
        engagement("clicked", "bo@hotmail.co.uk", NEWER, bot="generic", url=LINK_HOSTILE)]))
    server.run(flush(gw))  # what the roll-up writer (about a second behind) has not written yet
    items = api_events(server)
    totals, per_send, per_domain = counted(items)
    bots = Counter(item["event"] for item in items if item.get("client-info", {}).get("bot"))
    assert totals["accepted"] == 12 and totals["opened_unique"] == 4 and totals["failed_permanent"] >= 2

    context, page = signed_in_page(browser, server)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server.url}/dashboard/")
    assert page.url.endswith("/dashboard/overview")
    page.goto(f"{server.url}/dashboard/overview?domain={TEST_DOMAIN}&period=24h&who=all")
    d = totals["delivered"]
    shown = {
        "delivered_rate": (pct(d, d + totals["failed_permanent"] - totals["suppressed"]), d),
        "unique_opened_rate": (pct(totals["opened_unique"], d), totals["opened_unique"]),
        "unique_clicked_rate": (pct(totals["clicked_unique"], d), totals["clicked_unique"]),
        "click_to_open_rate": (pct(totals["clicked_unique"], totals["opened_unique"]), totals["clicked_unique"]),
        "unsubscribed_rate": (pct(totals["unsubscribed"], d), totals["unsubscribed"]),
        "complained_rate": (pct(totals["complained"], d), totals["complained"]),
        "bounce_rate": (pct(totals["failed_permanent"] - totals["suppressed"], d + totals["failed_permanent"]),
                        totals["failed_permanent"] - totals["suppressed"]),
        "temporary_fail_rate": (pct(totals["failed_temporary"], d + totals["failed_permanent"]),
                                totals["failed_temporary"]),
    }
    for rate, (value, count) in shown.items():
        assert card(page, rate).locator(".value").inner_text() == value, rate
        assert card(page, rate).locator(".count").inner_text() == f"{count:,}", rate
        assert card(page, rate).locator("svg.spark").count() == 1
    assert "opened_unique / delivered" in card(page, "unique_opened_rate").locator("abbr").get_attribute("title")
    assert card(page, "unique_opened_human_rate").count() == 0 and f"the {bots['opened']:,} opens and {bots['clicked']:,} clicks flagged as a machine's included" in page.inner_text("#who-note")

    # The human/all toggle: human is the default; the picker keeps the choice in the URL.
    page.goto(f"{server.url}/dashboard/overview?domain={TEST_DOMAIN}&period=24h")
    assert page.locator("#period-picker select[name=who]").input_value() == "human"
    human = {"unique_opened_human_rate": (pct(totals["opened_unique_human"], d), totals["opened_unique_human"]),
             "unique_clicked_human_rate": (pct(totals["clicked_unique_human"], d), totals["clicked_unique_human"]),
             "click_to_open_human_rate": (pct(totals["clicked_unique_human"], totals["opened_unique_human"]),
                                          totals["clicked_unique_human"]),
             "delivered_rate": shown["delivered_rate"]}
    for rate, (value, count) in human.items():
        assert card(page, rate).locator(".value").inner_text() == value, rate
        assert card(page, rate).locator(".count").inner_text() == f"{count:,}", rate
    assert card(page, "unique_opened_rate").count() == 0
    assert totals["opened_unique_human"] != totals["opened_unique"]  # the toggle has something to show
    assert f"({bots['opened']:,} opens, {bots['clicked']:,} clicks in this period" in page.inner_text("#who-note")
    page.screenshot(path=screenshots / "overview-human-dark.png", full_page=True)
    page.select_option("#period-picker select[name=who]", "all")
    page.click("#period-picker button[type=submit]")
    assert "who=all" in page.url and "period=24h" in page.url
    assert card(page, "unique_opened_rate").locator(".value").inner_text() == shown["unique_opened_rate"][0]
    assert page.goto(f"{server.url}/dashboard/overview?who=bots").status == 400
    assert "who must be human or all" in page.inner_text(".error")
    page.goto(f"{server.url}/dashboard/overview?domain={TEST_DOMAIN}&period=24h&who=all")
    assert "no previous figure" in card(page, "delivered_rate").inner_text()  # nothing the day before
    chart_rows = page.locator("#chart-table tbody tr")
    assert chart_rows.count() == 24
    accepted_by_hour = [int(t.replace(",", "")) for t in page.locator("#chart-table tbody tr td:nth-child(2)").all_text_contents()]
    assert sum(accepted_by_hour) == totals["accepted"]
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=screenshots / "overview-light.png", full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "overview-dark.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots / "overview-phone-dark.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    page.set_viewport_size({"width": 1280, "height": 900})

    # The period picker: the choice is kept in the URL; a past month has nothing; a bad one says why.
    page.select_option("#period-picker select[name=period]", "30d")
    page.select_option("#period-picker select[name=res]", "day")
    page.click("#period-picker button[type=submit]")
    assert "period=30d" in page.url and "res=day" in page.url
    assert page.locator("#chart-table tbody tr").count() in (30, 31)
    assert card(page, "delivered_rate").locator(".value").inner_text() == shown["delivered_rate"][0]
    page.goto(f"{server.url}/dashboard/overview?domain={TEST_DOMAIN}&period=custom&from=2020-01-01&to=2020-01-31&res=day")
    assert card(page, "delivered_rate").locator(".value").inner_text() == "\u2014"
    assert page.locator("#chart-table tbody tr").count() == 31
    response = page.goto(f"{server.url}/dashboard/overview?period=90d&res=hour")
    assert response.status == 400 and "coarser resolution" in page.inner_text(".error")

    # Newsletters: newest first, hostile subject and tag shown as text.
    page.goto(f"{server.url}/dashboard/sends?domain={TEST_DOMAIN}")
    rows = page.locator("#sends tbody tr")
    assert [rows.nth(i).get_attribute("data-send") for i in range(rows.count())] == [NEWER, OLDER]
    assert rows.nth(1).locator("a.subject").inner_text() == HOSTILE_SUBJECT
    assert rows.nth(1).locator(".accepted").inner_text() == str(per_send[OLDER]["accepted"])
    assert HOSTILE_TAG in rows.nth(1).locator(".tag").all_inner_texts()
    assert page.locator("#sends script, #sends img").count() == 0

    rows.nth(1).locator("a.subject").click()
    assert page.locator("#send-subject").inner_text() == HOSTILE_SUBJECT
    c = per_send[OLDER]
    funnel = {r.get_attribute("data-step"): int(r.locator(".n").inner_text().replace(",", ""))
              for r in page.locator("#funnel tbody tr").all()}
    assert funnel == {"accepted": c["accepted"], "sent": c["accepted"] - c["suppressed"] - c["rejected"],
                      "delivered": c["delivered"], "opened": c["opened_unique_human"], "clicked": c["clicked_unique_human"]}
    page.select_option("#who-picker select[name=who]", "all")
    page.click("#who-picker button[type=submit]")
    assert "who=all" in page.url and f"key={OLDER}" in page.url
    assert page.locator("#funnel tr[data-step=opened] .n").inner_text() == str(c["opened_unique"])
    assert c["opened_unique"] != c["opened_unique_human"]
    assert page.locator("#progress").count() == 0  # the outbox finished it
    assert "first send recorded" in page.inner_text("body")  # nothing older to compare with
    page.screenshot(path=screenshots / "send-dark.png", full_page=True)

    page.goto(f"{server.url}/dashboard/sends?domain={TEST_DOMAIN}")
    page.emulate_media(color_scheme="light")
    page.screenshot(path=screenshots / "sends-light.png", full_page=True)
    page.locator("#sends tbody tr").first.locator("a.subject").click()
    average = page.locator("#average tbody tr:has-text('Unique opens (human)')").first.locator("td")
    assert average.nth(0).inner_text() == pct(per_send[NEWER]["opened_unique_human"], per_send[NEWER]["delivered"])
    assert average.nth(1).inner_text() == pct(c["opened_unique_human"], c["delivered"])  # the mean of the one before

    # Top links of the newer send, people only by default, then with the machine's clicks.
    links = [(item["url"], item["recipient"], bool(item["client-info"].get("bot")))
             for item in api_events(server) if item["event"] == "clicked"
             and item["user-variables"]["email-id"] == NEWER]
    def expected_links(with_bots: bool) -> list[tuple[str, str, str, str]]:
        chosen = [(u, r) for u, r, bot in links if with_bots or not bot]
        clicks, people = Counter(u for u, _ in chosen), defaultdict(set)
        for u, r in chosen:
            people[u].add(r.lower())
        return sorted((u, str(n), str(len(people[u])), pct(n, len(chosen))) for u, n in clicks.items())
    def shown_links() -> list[tuple[str, str, str, str]]:
        return sorted(tuple(row.locator(s).inner_text() for s in ("td.url", ".clicks", ".unique", ".rate"))
                      for row in page.locator("#links tbody tr").all())
    assert shown_links() == expected_links(False) and len(expected_links(False)) == 2
    page.screenshot(path=screenshots / "send-links-human-light.png", full_page=True)
    page.select_option("#who-picker select[name=who]", "all")
    page.click("#who-picker button[type=submit]")
    assert shown_links() == expected_links(True) and len(expected_links(True)) == 3
    assert page.locator("#links a[href^=javascript]").count() == 0  # shown as text, never a link
    assert page.locator(f"#links a[href='{LINK_B}']").count() == 1
    page.screenshot(path=screenshots / "send-links-all-light.png", full_page=True)
    page.screenshot(path=screenshots / "send-light.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots / "send-phone-light.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    page.set_viewport_size({"width": 1280, "height": 900})

    # Providers: every provider row's delivered figure is the events API's count for its domains.
    page.goto(f"{server.url}/dashboard/providers?domain={TEST_DOMAIN}&period=24h")
    opened = page.locator("#providers tr[data-provider=microsoft] td.metric-cell").last.locator(".n")
    assert opened.inner_text() == str(per_domain["hotmail.co.uk"]["opened_unique_human"])
    page.goto(f"{server.url}/dashboard/providers?domain={TEST_DOMAIN}&period=24h&who=all")
    assert opened.inner_text() == str(per_domain["hotmail.co.uk"]["opened_unique"])
    assert per_domain["hotmail.co.uk"]["opened_unique"] != per_domain["hotmail.co.uk"]["opened_unique_human"]
    gmail = page.locator("#providers tr[data-provider=gmail] td.metric-cell").first
    assert gmail.locator(".n").inner_text() == str(per_domain["gmail.com"]["delivered"])
    other = page.locator("#providers tr[data-provider=other] .accepted").inner_text()
    assert other == str(per_domain[SIM]["accepted"])
    page.screenshot(path=screenshots / "providers-light.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "providers-phone-dark.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") == 390

    assert page.evaluate("window.__pwned") is None and dialogs == []
    context.close()


def test_a_send_going_out_shows_its_progress() -> None:
    going = BatchProgress(batch_id=1, domain=TEST_DOMAIN, email_id=OLDER, tags=[], total=200, done=50,
                          counts={"sent": 50}, in_doubt=0, created_at=0.0, rate=2.0, eta_seconds=75.0)
    snapshot = OperationsSnapshot(taken_at=0.0, queue_depth=1, oldest_job_age=None, in_doubt=0, dead_jobs=0,
                                  batches=[going], quota=None, newsletters=[going])
    progress = progress_of(snapshot, TEST_DOMAIN, OLDER)
    assert progress is not None and (progress["done"], progress["total"]) == (50, 200)
    assert (progress["percent"], progress["rate"], progress["eta"]) == ("25.0%", "120/min", "1 min 15 s")
    assert progress_of(snapshot, TEST_DOMAIN, NEWER) is None and progress_of(snapshot, "other.example", OLDER) is None
    going.done = 200  # once it has gone out, the page shows no progress
    assert progress_of(snapshot, TEST_DOMAIN, OLDER) is None
