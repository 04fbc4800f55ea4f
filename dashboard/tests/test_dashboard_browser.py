"""The dashboard in a real browser (Debian's chromium through playwright) against a live gateway:
setup token, sign-in, the Operations page against the operations snapshot, sign-out, CSRF refusal,
the login limit, roles, and attacker-controlled tags rendered inert. Screenshots go to
``tests/artifacts/screenshots/`` (git-ignored)."""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import logging
import os
import re
import subprocess
import sys
import time

import httpx
import pytest

import postgate_dashboard
from postgate import hookimpl
from postgate.builtin.outbox import Outbox
from postgate.operations import Quota
from postgate.testing.fixtures import TEST_DOMAIN, LiveServer, basic_auth, free_port, make_settings
from postgate_dashboard.web.accounts import create_user
from postgate_dashboard.web_plugin import dashboard_of
from postgate import Gateway

PASSWORD = "correct horse battery"
HOSTILE_TAG = "<script>window.__pwned=1</script>"
HOSTILE_ID = "<img src=x onerror=\"window.__pwned=2\">"


class QuotaOutbox(Outbox):
    """The outbox, reporting a provider quota as SES would."""

    name = "quota-outbox"

    async def quota(self) -> Quota:
        return Quota(max_24h=50_000, sent_24h=1_234, max_rate=14.0, source="test")


class QuotaPlugin:
    @hookimpl
    def register_deliveries(self, register):
        register("quota-outbox", QuotaOutbox)


class SilentOutbox(Outbox):
    """The outbox as a provider whose events never come back: every message is only ``sent``.
    The first call takes a while, so the batch has a send rate."""

    name = "silent-outbox"

    async def send(self, messages):
        await asyncio.sleep(1.2)
        return [dataclasses.replace(r, outcome="sent", followups=()) for r in await super().send(messages)]


class SilentPlugin:
    @hookimpl
    def register_deliveries(self, register):
        register("silent-outbox", SilentOutbox)


@pytest.fixture
def server(live_server):
    return live_server(plugins=[postgate_dashboard, QuotaPlugin()], backends={"delivery": "quota-outbox"})


def add_account(server, email: str, role: str = "admin") -> None:
    server.run(create_user(server.gateway, email, PASSWORD, role))


def sign_in(page, server, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def send(server, recipients: int, *, tags: list[str], email_id: str, later: bool = False) -> None:
    to = [f"member{i}@example.org" for i in range(recipients)]
    data = {"from": f"Blog <blog@{TEST_DOMAIN}>", "to": to, "subject": "Issue <b>1</b>", "text": "Hi",
            "o:tag": tags, "v:email-id": email_id}
    if later:
        data["o:deliverytime"] = email.utils.formatdate(time.time() + 3 * 86400, usegmt=True)
    response = httpx.post(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=data, headers=basic_auth(), timeout=30)
    assert response.status_code == 200, response.text


def wait_until_sent(server, email_id: str) -> None:
    for _ in range(600):
        snap = server.run(server.gateway.operations_snapshot())
        rows = [n for n in snap.newsletters if n.email_id == email_id]
        if rows and rows[0].done == rows[0].total:
            return
        time.sleep(0.05)
    raise AssertionError(f"{email_id} was not sent")


@dataclasses.dataclass
class LiveServerAddress:
    url: str


def text(page, selector: str) -> str:
    return page.inner_text(selector).strip()


def test_setup_token_creates_the_first_admin_once(browser, server, screenshots) -> None:
    token = dashboard_of(server.gateway).setup_token
    assert token
    page = browser.new_page()
    page.goto(f"{server.url}/dashboard/")
    assert page.url.endswith("/dashboard/setup")
    page.screenshot(path=screenshots / "setup.png", full_page=True)
    page.fill("input[name=token]", "wrong-" + token)
    page.fill("input[name=email]", "admin@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_again]", PASSWORD)
    page.click("button[type=submit]")
    assert "Wrong or used setup token" in page.content()
    page.fill("input[name=token]", token)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_again]", PASSWORD)
    page.click("button[type=submit]")
    assert page.url.endswith("/dashboard/login")
    assert dashboard_of(server.gateway).setup_token is None
    assert page.goto(f"{server.url}/dashboard/setup").status == 404  # used up
    sign_in(page, server, "admin@example.com")
    assert page.url.endswith("/dashboard/operations")
    page.close()


def test_operations_shows_the_snapshot_and_tags_render_inert(browser, server, screenshots) -> None:
    add_account(server, "ops@example.com")
    send(server, 40, tags=["newsletter", HOSTILE_TAG], email_id=HOSTILE_ID)
    wait_until_sent(server, HOSTILE_ID)
    send(server, 25, tags=["weekly"], email_id="ghost-email-2", later=True)
    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, server, "ops@example.com")
    assert page.url.endswith("/dashboard/operations")
    snap = server.run(server.gateway.operations_snapshot())

    assert text(page, "#queue-depth") == f"{snap.queue_depth:,}"
    assert text(page, "#in-doubt") == f"{snap.in_doubt:,}"
    assert text(page, "#dead-jobs") == f"{snap.dead_jobs:,}"
    assert text(page, "#send-rate") == f"{sum(b.rate or 0 for b in snap.batches) * 60:,.0f}"
    assert text(page, "#max-rate") == "840"  # 14 per second
    assert text(page, "#sent-24h") == "1,234"
    assert text(page, "#max-24h") == "50,000"
    rows = page.locator("#newsletters tbody tr")
    assert rows.count() == len(snap.newsletters) == 2
    shown = {rows.nth(i).locator("td").nth(0).inner_text().split("\n")[0]: rows.nth(i).inner_text()
             for i in range(rows.count())}
    for newsletter in snap.newsletters:
        assert f"{newsletter.done:,} / {newsletter.total:,}" in shown[newsletter.email_id]
    assert "40 / 40" in shown[HOSTILE_ID] and "0 / 25" in shown["ghost-email-2"]

    # The hostile tag and email-id are shown as text, never run or parsed as markup.
    assert HOSTILE_TAG in page.inner_text("#newsletters")
    assert HOSTILE_ID in page.inner_text("#newsletters")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#live script, #live img").count() == 0
    assert dialogs == []
    assert "Events stopped arriving" not in page.inner_text("main")  # the outbox reports deliveries
    # One worker loop (the live server's) heartbeats; nothing sends now, so no ingest lag is due.
    assert text(page, "#workers-alive") == "1"
    assert page.locator("#workers tbody tr.alive").count() == 1 and "worker-0" in page.inner_text("#workers")
    assert text(page, "#ingest-lag") == "\u2014"
    assert text(page, "#ingest-note").startswith("nothing sending; newest provider event")
    assert text(page, "#ingest-note").endswith(f"ago on {TEST_DOMAIN}")
    headers = page.goto(f"{server.url}/dashboard/operations").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"

    # Live: a newsletter accepted after the page loaded appears without a reload (Server-Sent
    # Events), and the hostile values stay inert after the page swapped in the new fragment.
    page.wait_for_function("() => document.getElementById('live-state').textContent === 'live'")
    send(server, 10, tags=["late"], email_id="ghost-email-3", later=True)
    page.wait_for_selector("#newsletters >> text=ghost-email-3", timeout=20_000)
    assert page.locator("#newsletters tbody tr").count() == 3
    assert HOSTILE_TAG in page.inner_text("#newsletters")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#live script, #live img").count() == 0

    page.set_viewport_size({"width": 1280, "height": 800})
    page.emulate_media(color_scheme="light")
    page.screenshot(path=screenshots / "operations-light.png", full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "operations-dark.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=screenshots / "operations-phone-dark.png", full_page=True)
    context.close()


def test_operations_warns_when_provider_events_stop_while_sending(browser, live_server, screenshots) -> None:
    server = live_server(plugins=[postgate_dashboard, SilentPlugin()], backends={"delivery": "silent-outbox"},
                         plugin_settings={"dashboard": {"events_silence_seconds": 1}})
    add_account(server, "ops@example.com")
    send(server, 30, tags=["newsletter"], email_id="ghost-email-9")
    wait_until_sent(server, "ghost-email-9")
    page = browser.new_page()
    sign_in(page, server, "ops@example.com")
    banner = page.locator(".banner").first.inner_text()
    assert f"Events stopped arriving for {TEST_DOMAIN}" in banner and "since sending started" in banner
    assert re.fullmatch(r"\d+ s", text(page, "#ingest-lag")), text(page, "#ingest-lag")
    assert text(page, "#ingest-note") == f"on {TEST_DOMAIN}, sending now; no provider event yet"
    page.screenshot(path=screenshots / "operations-silent-events.png", full_page=True)
    page.close()


def test_sign_out_ends_the_session(browser, server) -> None:
    add_account(server, "ann@example.com")
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server, "ann@example.com")
    assert page.url.endswith("/dashboard/operations")
    session = [c for c in context.cookies() if c["name"] == "postgate_dashboard_session"]
    assert session and session[0]["httpOnly"] and session[0]["secure"] and session[0]["sameSite"] == "Strict"
    page.click("text=Sign out")
    assert page.url.endswith("/dashboard/login")
    page.goto(f"{server.url}/dashboard/operations")
    assert page.url.endswith("/dashboard/login")
    # The old cookie, replayed, no longer opens a session: sign-out ended it on the server.
    replay = httpx.get(f"{server.url}/dashboard/operations",
                       cookies={"postgate_dashboard_session": session[0]["value"]}, timeout=30)
    assert replay.status_code == 303 and replay.headers["location"].endswith("/dashboard/login")
    context.close()


def test_posts_without_the_csrf_token_are_refused(browser, server) -> None:
    add_account(server, "admin@example.com")
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server, "admin@example.com")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    form = {"email": "new@example.com", "password": PASSWORD, "role": "admin"}
    refused = context.request.post(f"{server.url}/dashboard/users", form=form, max_redirects=0)
    assert refused.status == 403
    wrong = context.request.post(f"{server.url}/dashboard/users", form={**form, "csrf_token": "0" * 64},
                                 max_redirects=0)
    assert wrong.status == 403
    assert "new@example.com" not in page.goto(f"{server.url}/dashboard/users").text()
    accepted = context.request.post(f"{server.url}/dashboard/users", form={**form, "csrf_token": token},
                                    max_redirects=0)
    assert accepted.status == 303
    assert "new@example.com" in page.goto(f"{server.url}/dashboard/users").text()
    context.close()


def test_a_viewer_reads_but_cannot_change(browser, server, screenshots) -> None:
    add_account(server, "viewer@example.com", role="viewer")
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server, "viewer@example.com")
    assert page.url.endswith("/dashboard/operations")
    page.goto(f"{server.url}/dashboard/users")
    assert page.locator("form[action$='/dashboard/users']").count() == 0  # no add form shown
    page.screenshot(path=screenshots / "users-viewer.png", full_page=True)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    attempt = context.request.post(f"{server.url}/dashboard/users", max_redirects=0, form={
        "email": "sneaky@example.com", "password": PASSWORD, "role": "admin", "csrf_token": token})
    assert attempt.status == 403
    assert "sneaky@example.com" not in page.goto(f"{server.url}/dashboard/users").text()
    context.close()


def test_wrong_passwords_lock_the_account_and_are_logged(browser, server, caplog, screenshots) -> None:
    add_account(server, "bo@example.com")
    attempts = dashboard_of(server.gateway).settings.login_attempts
    page = browser.new_page()
    caplog.set_level(logging.WARNING, logger="postgate.dashboard")
    for _ in range(attempts):
        sign_in(page, server, "bo@example.com", "not the password")
        assert "Wrong email or password" in page.content()
    sign_in(page, server, "bo@example.com")  # the right password, too late
    assert page.url.endswith("/dashboard/login")
    assert "This account is locked" in page.content()
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "login-locked-dark.png", full_page=True)
    locked = [r.getMessage() for r in caplog.records if "locked" in r.getMessage()]
    assert any(f"account bo@example.com locked for 900 s after {attempts} wrong passwords" in m for m in locked)
    page.close()


def test_create_user_command_reads_the_password_twice_from_stdin(browser, tmp_path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(POSTGATE_LOAD_PLUGINS='["dashboard"]', POSTGATE_DATA_DIR=str(data))
    command = [sys.executable, "-m", "postgate", "dashboard", "create-user", "Cy@Example.com", "--role", "viewer"]
    differ = subprocess.run(command, input=f"{PASSWORD}\nsomething else\n", env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert differ.returncode != 0 and "differ" in differ.stderr
    short = subprocess.run(command, input="short\nshort\n", env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert short.returncode != 0 and "at least 12 characters" in short.stderr
    done = subprocess.run(command, input=f"{PASSWORD}\n{PASSWORD}\n", env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "created viewer cy@example.com" in done.stdout

    gateway = Gateway(make_settings(data), plugins=[postgate_dashboard])
    server = LiveServer(gateway, background=False).start()
    try:
        assert dashboard_of(gateway).setup_token is None  # an account exists: no setup token
        page = browser.new_page()
        sign_in(page, server, "cy@example.com")
        assert page.url.endswith("/dashboard/operations")
        assert re.search(r"cy@example\.com\s*·\s*viewer", page.inner_text("header"))
        page.close()
    finally:
        server.stop()


def test_the_dashboard_can_listen_on_its_own_address(browser, live_server) -> None:
    port = free_port()
    server = live_server(plugins=[postgate_dashboard], background=False,
                         plugin_settings={"dashboard": {"listen": f"127.0.0.1:{port}"}})
    add_account(server, "own@example.com")
    assert httpx.get(f"{server.url}/dashboard/login", timeout=30).status_code == 404  # not on the API's listener
    own = LiveServerAddress(f"http://127.0.0.1:{port}")
    page = browser.new_page()
    page.goto(f"{own.url}/")
    assert page.url.endswith("/dashboard/login")
    sign_in(page, own, "own@example.com")
    assert page.url == f"{own.url}/dashboard/operations"
    assert text(page, "#queue-depth") == "0"
    page.close()
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{own.url}/dashboard/login", timeout=30)

