"""Live send progress on the send page (Server-Sent Events, a static script, strict CSP) against
a live gateway whose delivery the test lets through recipient by recipient; the stream is bounded
(it ends at ``live_stream_seconds`` and once the send has gone out); without JavaScript the page is
the static one. The progress curve, drawn from samples of the send taken as it goes out, refreshed
on the live page. The Operations page's workers-alive and silent-worker warning. Screenshots go to
``tests/artifacts/screenshots/``."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import postgate_dashboard
import postgate_mysql
from postgate import hookimpl
from postgate.builtin.outbox import Outbox
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate.testing.mariadb import create_database, drop_database
from postgate_dashboard.heartbeats import Beat, host_and_pid, write_beats
from postgate_dashboard.rollups import queries
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.rollups.models import WorkerBeat
from postgate_dashboard.web.accounts import create_user
from postgate_dashboard.web.progress_samples import samples_of, take_samples
from postgate_dashboard.web_plugin import dashboard_of

PASSWORD = "correct horse battery"
EMAIL_ID = "6750a1b2c3d4e5f6a7b8c9d0"
RECIPIENTS = 6


class Gate:
    """How many messages the gated outbox may send so far (the test raises it)."""

    allowed = 0
    sent = 0


class GatedOutbox(Outbox):
    name = "gated-outbox"

    async def send(self, messages):
        while Gate.sent + len(messages) > Gate.allowed:
            await asyncio.sleep(0.02)
        Gate.sent += len(messages)
        return await super().send(messages)


class GatedPlugin:
    @hookimpl
    def register_deliveries(self, register):
        register("gated-outbox", GatedOutbox)


def gated_server(live_server, plugins: tuple = (), **options):
    Gate.allowed, Gate.sent = 0, 0
    settings = options.pop("plugin_settings", {})
    srv = live_server(plugins=[*plugins, postgate_dashboard, GatedPlugin()],
                      backends={"delivery": "gated-outbox", **options.pop("backends", {})}, gateway={"chunk_size": 1},
                      plugin_settings={"dashboard": {"cookie_secure": False, "live_stream_seconds": 2}, **settings})
    dashboard_of(srv.gateway).live_interval = 0.2
    srv.run(create_user(srv.gateway, "ops@example.com", PASSWORD, "admin"))
    return srv


@pytest.fixture
def server(live_server):
    yield gated_server(live_server)
    Gate.allowed = 10**9  # let the worker finish so the server stops at once


@pytest.fixture(params=["sqlite", "mysql"])
def any_server(request, live_server):
    """The gated server on SQLite, then on MariaDB."""
    if request.param == "sqlite":
        yield gated_server(live_server)
        Gate.allowed = 10**9
        return
    url = in_thread(create_database())  # playwright's loop may be running in this thread
    try:
        srv = gated_server(live_server, (postgate_mysql,), backends={"storage": "mysql"},
                           plugin_settings={"mysql": {"url": url}})
        yield srv
        Gate.allowed = 10**9
        srv.stop()  # before the database is dropped
    finally:
        in_thread(drop_database(url))


def in_thread(coro):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def send_newsletter(server) -> None:
    data = {"from": f"Blog <blog@{TEST_DOMAIN}>", "to": [f"m{i}@example.org" for i in range(RECIPIENTS)],
            "subject": "Issue 7", "text": "Hi", "o:tag": ["newsletter"], "v:email-id": EMAIL_ID}
    response = httpx.post(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=data, headers=basic_auth(), timeout=30)
    assert response.status_code == 200, response.text


def let_through(server, count: int) -> None:
    """Allow ``count`` more messages and wait until the snapshot shows them done."""
    Gate.allowed += count
    for _ in range(600):
        snap = server.run(server.gateway.operations_snapshot())
        rows = [n for n in snap.newsletters if n.email_id == EMAIL_ID]
        if rows and rows[0].done >= min(Gate.allowed, RECIPIENTS):
            server.run(flush(server.gateway))
            return
        time.sleep(0.05)
    raise AssertionError("the gated send did not move")


def signed_in_client(server) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    page = client.get("/dashboard/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    done = client.post("/dashboard/login", data={"email": "ops@example.com", "password": PASSWORD,
                                                 "csrf_token": token.group(1)})
    assert done.status_code == 303, done.text
    return client


def frames(body: str) -> list[tuple[str, str]]:
    """``(event, data)`` of each Server-Sent Event in ``body``."""
    out = []
    for block in body.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in lines:
            out.append((lines.get("event", "message"), lines["data"]))
    return out


def test_the_progress_stream_is_bounded_and_ends_with_the_send(server) -> None:
    send_newsletter(server)
    let_through(server, 2)
    client = signed_in_client(server)
    url = f"/dashboard/send/live?domain={TEST_DOMAIN}&key={EMAIL_ID}"
    with client.stream("GET", url) as response:  # ends by itself: live_stream_seconds
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        body = response.read().decode()
    assert body.startswith("retry: ")
    got = frames(body)
    assert len(got) >= 2 and all(event == "message" for event, _ in got)
    assert '"done":"2"' in got[0][1] and '"total":"6"' in got[0][1] and '"finished":false' in got[0][1]

    let_through(server, RECIPIENTS)
    body = client.get(url).text
    event, data = frames(body)[-1]
    assert event == "finished" and '"finished":true' in data and '"done":"6"' in data

    assert client.get(f"/dashboard/send/live?domain={TEST_DOMAIN}&key=nope").status_code == 404
    assert client.get(f"/dashboard/send/live?domain={TEST_DOMAIN}").status_code == 400
    assert client.get(f"/dashboard/send/live?domain={TEST_DOMAIN}&key={'k' * 256}").status_code == 400
    anonymous = httpx.get(f"{server.url}{url}", timeout=30)
    assert anonymous.status_code == 303 and anonymous.headers["location"].endswith("/dashboard/login")


def test_the_send_page_moves_live_in_a_browser(browser, server, screenshots) -> None:
    send_newsletter(server)
    let_through(server, 2)
    settings_seconds = dashboard_of(server.gateway).settings
    settings_seconds.live_stream_seconds = 60
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", "ops@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{server.url}/dashboard/send?domain={TEST_DOMAIN}&key={EMAIL_ID}")
    box = "#progress"
    assert page.inner_text(f"{box} [data-field=done]") == "2"
    assert page.inner_text(f"{box} [data-field=total]") == "6"
    page.wait_for_function("() => document.getElementById('progress-state').textContent === 'live'")
    fill_before = float(page.get_attribute(f"{box} .progress-bar .fill", "width"))

    let_through(server, 2)  # 4 of 6, without a reload
    page.wait_for_function("() => document.querySelector('#progress [data-field=done]').textContent === '4'",
                           timeout=20_000)
    assert page.inner_text(f"{box} [data-field=percent]") == "66.7%"
    assert float(page.get_attribute(f"{box} .progress-bar .fill", "width")) > fill_before
    page.screenshot(path=screenshots / "send-progress-live.png", full_page=True)

    let_through(server, RECIPIENTS)
    page.wait_for_function("() => document.getElementById('progress-state').textContent.startsWith('all sent')",
                           timeout=20_000)
    assert page.inner_text(f"{box} [data-field=done]") == "6"
    assert page.inner_text(f"{box} [data-field=percent]") == "100.0%"
    page.screenshot(path=screenshots / "send-progress-finished.png", full_page=True)
    assert not [m for m in console if "Content Security Policy" in m], console
    assert page.locator("main script:not([src])").count() == 0
    context.close()


def test_without_javascript_the_send_page_is_static(browser, server) -> None:
    send_newsletter(server)
    let_through(server, 3)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", "ops@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{server.url}/dashboard/send?domain={TEST_DOMAIN}&key={EMAIL_ID}")
    assert page.inner_text("#progress [data-field=done]") == "3"
    assert page.inner_text("#progress-state") == "as of loading this page"
    context.close()


CURVE_URL = f"/dashboard/send/curve?domain={TEST_DOMAIN}&key={EMAIL_ID}"


def sample(server, at: float) -> int:
    """Take the progress samples as the sampler does, at ``at`` (one-second slots)."""
    return server.run(take_samples(server.gateway, at, 1))


def curve_table(html: str) -> list[tuple[str, ...]]:
    """(sent, share, delivered, failed) of each row of the curve's table."""
    body = html.split('id="curve-table"', 1)[1]
    cells = re.findall(r'<tr><td class="when">[^<]*</td><td class="num">([^<]*)</td><td class="num">([^<]*)</td>'
                       r'<td class="num">([^<]*)</td><td class="num">([^<]*)</td>', body)
    return [tuple(row) for row in cells]


def polyline_points(html: str) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, pair.split(","))) for pair in points.split()]
            for points in re.findall(r'<polyline class="series [^"]*" fill="none" points="([^"]*)"', html)]


def test_the_progress_curve_is_drawn_from_the_samples(any_server) -> None:
    server = any_server
    client = signed_in_client(server)
    send_newsletter(server)
    t0 = time.time()
    for step, allowed in enumerate((2, 4, RECIPIENTS)):
        let_through(server, allowed - Gate.allowed)
        if step == 0:
            assert 'id="no-curve"' in client.get(CURVE_URL).text  # not sampled yet
        assert sample(server, t0 + 10 * step) == 1
    sample(server, t0 + 20)  # the same slot again: replaced, not added
    fragment = client.get(CURVE_URL)
    assert fragment.status_code == 200 and "script-src 'self'" in fragment.headers["content-security-policy"]
    summary = server.run(queries.send_summary(server.gateway, TEST_DOMAIN, EMAIL_ID))
    assert summary.counts["delivered"] == RECIPIENTS
    assert curve_table(fragment.text) == [("2", "33.3%", "2", "0"), ("4", "66.7%", "4", "0"),
                                          ("6", "100.0%", "6", "0")]
    sent, delivered = polyline_points(fragment.text)
    assert len(sent) == len(delivered) == 4  # the start of the send, then each sample
    assert [x for x, _ in sent] == sorted(x for x, _ in sent)
    assert [y for _, y in sent] == sorted((y for _, y in sent), reverse=True)  # up is more
    page = client.get(f"/dashboard/send?domain={TEST_DOMAIN}&key={EMAIL_ID}").text
    assert 'id="progress-curve"' in page and polyline_points(page) == [sent, delivered]
    assert client.get(f"/dashboard/send/curve?domain={TEST_DOMAIN}&key=nope").status_code == 404
    assert httpx.get(f"{server.url}{CURVE_URL}", timeout=30).status_code == 303


def funnel_delivered(html: str) -> str:
    return re.search(r'<tr data-step="delivered">.*?<td class="num n">([^<]*)</td>', html).group(1)


def test_the_curve_and_the_funnel_show_the_same_delivered_count(server) -> None:
    """A sample holds the roll-ups' delivered count of up to a slot ago, the funnel the count as the
    page is drawn: the page, and the fragment the live page swaps in, draw both from one read."""
    client = signed_in_client(server)
    send_newsletter(server)
    t0 = time.time()
    let_through(server, 1)
    assert sample(server, t0) == 1  # the curve's last sample: 1 delivered
    let_through(server, 3)  # 4 delivered in the roll-ups, no sample since
    page = client.get(f"/dashboard/send?domain={TEST_DOMAIN}&key={EMAIL_ID}").text
    assert funnel_delivered(page) == "4"
    assert curve_table(page)[-1][2] == "4"
    fragment = client.get(CURVE_URL + "&who=all")
    assert fragment.status_code == 200
    assert curve_table(fragment.text)[-1][2] == funnel_delivered(fragment.text) == "4"
    assert client.get(CURVE_URL + "&who=robots").status_code == 400


def test_the_sampler_records_a_send_as_it_goes_out(server) -> None:
    dash = dashboard_of(server.gateway)

    async def sample_often() -> None:
        await dash.stop_sampling()
        dash.sample_interval = 0.2
        dash.start_sampling()

    server.run(sample_often())
    send_newsletter(server)
    let_through(server, 3)
    for _ in range(200):
        got = server.run(samples_of(server.gateway, TEST_DOMAIN, EMAIL_ID))
        if got and got[-1].done == 3:
            break
        time.sleep(0.05)
    assert got and got[-1].done == 3 and got[-1].total == RECIPIENTS


def test_the_curve_grows_live_in_a_browser(browser, server, screenshots) -> None:
    send_newsletter(server)
    t0 = time.time()
    let_through(server, 1)
    sample(server, t0)
    dashboard_of(server.gateway).settings.live_stream_seconds = 60
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", "ops@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{server.url}/dashboard/send?domain={TEST_DOMAIN}&key={EMAIL_ID}")
    assert page.locator("#progress-curve polyline.s-accepted").count() == 1
    two_points = page.get_attribute("#progress-curve polyline.s-accepted", "points")
    assert len(two_points.split()) == 2
    for step, allowed in enumerate((3, 4), start=1):
        let_through(server, allowed - Gate.allowed)
        sample(server, t0 + 10 * step)
    page.wait_for_function(
        "() => document.querySelector('#progress-curve polyline.s-accepted').getAttribute('points')"
        ".trim().split(/\\s+/).length === 4", timeout=20_000)
    page.locator("#curve-table summary").click()
    assert page.locator("#curve-table tbody tr").count() == 3
    # The funnel came with the curve: it moved from the page's 1 delivered to the curve's 4.
    last_row = page.locator("#curve-table tbody tr").last.locator("td")
    assert page.inner_text("#funnel tr[data-step=delivered] td.n") == last_row.nth(3).inner_text() == "4"
    page.locator("#progress-curve").screenshot(path=screenshots / "send-progress-curve.png")
    page.screenshot(path=screenshots / "send-progress-curve-page.png", full_page=True)
    assert not [m for m in console if "Content Security Policy" in m], console
    assert page.locator("main script:not([src])").count() == 0
    context.close()


def test_workers_alive_and_a_silent_worker_on_operations(server) -> None:
    client = signed_in_client(server)
    page = client.get("/dashboard/operations").text
    assert re.search(r'id="workers-alive">1<', page)
    # A loop of another process that stopped beating an hour ago, without stopping cleanly.
    now = time.time()
    server.run(write_beats(server.gateway, [Beat("worker-3@other-host:4242:abcd", now - 7200, now - 3600, False)]))
    page = client.get("/dashboard/operations").text
    assert re.search(r'id="workers-alive">1<', page)
    assert "1 worker loop stopped sending heartbeats" in page and "other-host" in page

    async def rows():
        with server.gateway.storage.orm():
            return await WorkerBeat.all().values_list("host", "pid")

    assert ("other-host", 4242) in server.run(rows())
    server.run(write_beats(server.gateway, [Beat("worker-3@other-host:4242:abcd", now - 7200, now, True)]))
    assert ("other-host", 4242) not in server.run(rows())  # a clean stop removes the row


@pytest.mark.parametrize("owner, parsed", [
    ("worker-0@host-a:123:ab12", ("host-a", 123)), ("no-at-sign", ("no-at-sign", 0)),
    ("w@h:notapid:x", ("h", 0)), ("w@h:99999999999999999999:x", ("h", 0)), ("w@" + "h" * 400 + ":1:x", ("h" * 255, 1)),
])
def test_worker_owner_ids_parse_safely(owner, parsed) -> None:
    assert host_and_pid(owner) == parsed
