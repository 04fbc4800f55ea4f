"""The recipient timeline and the suppression lists in a real browser (Debian's chromium through
playwright) against a live gateway with seeded data: the timeline against ``GET /v3/{domain}/events``,
the last events read, suppressions added, lifted, imported and exported as an admin and checked
through the API, a viewer refused, CSRF refused, the audit trail, and hostile values rendered inert.
Screenshots go to ``tests/artifacts/screenshots/``."""

from __future__ import annotations

import csv
import io
import json
import time

import httpx
import pytest

import postgate_dashboard
import postgate_suppression_audit
from postgate import Event
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate_dashboard.web.accounts import create_user

PASSWORD = "correct horse battery"
ROOT = f"/v3/{TEST_DOMAIN}"
MEMBER = "member@example.org"
HOSTILE_SUBJECT = "<script>window.__pwned=1</script>"
HOSTILE_ADDRESS = "<img/src=x/onerror=window.__pwned=2>@evil.example"
HOSTILE_REPLY = "550 <b onmouseover=window.__pwned=3>mailbox</b> unavailable"
FORMULA_URL = "=HYPERLINK(\"https://evil.example\")"
HOSTILE_TAG = "<svg onload=window.__pwned=4>"
GHOST_AGENT = "Ghost/5.99 (+https://ghost.org)"


@pytest.fixture
def server(live_server):
    return live_server(plugins=[postgate_dashboard, postgate_suppression_audit])


def add_account(server, email: str, role: str = "admin") -> None:
    server.run(create_user(server.gateway, email, PASSWORD, role))


def signed_in_page(browser, server, email: str, role: str = "admin"):
    add_account(server, email, role)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    assert page.url.endswith("/dashboard/operations")
    return context, page


def api(method: str, server, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", headers={**basic_auth(), **kwargs.pop("headers", {})},
                         timeout=30, **kwargs)


def send_to(server, to: str) -> str:
    response = api("POST", server, f"{ROOT}/messages", data={
        "from": f"Blog <blog@{TEST_DOMAIN}>", "to": to, "subject": HOSTILE_SUBJECT, "text": "Hi",
        "o:tag": HOSTILE_TAG})
    assert response.status_code == 200, response.text
    return response.json()["id"].strip("<>")


def wait_for_events(server, recipient: str, count: int) -> list[dict]:
    for _ in range(600):
        items = api("GET", server, f"{ROOT}/events", params={"recipient": recipient, "ascending": "yes"}).json()["items"]
        if len(items) >= count:
            return items
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} events for {recipient}")


def seed_engagement(server, recipient: str, message_id: str) -> None:
    """An open and a click with client info, and a hostile provider reply, as a provider would record them."""
    headers = {"message-id": message_id}
    client = {"client-name": "Thunderbird", "client-os": "Linux", "device-type": "desktop",
              "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Thunderbird/128.0"}
    geo = {"city": "Lyon", "region": "ARA", "country": "FR"}
    events = [
        Event(TEST_DOMAIN, "opened", recipient, message_id, key=f"open-{message_id}",
              payload={"recipient": recipient, "message": {"headers": headers}, "client-info": client,
                       "geolocation": geo, "ip": "192.0.2.7", "tags": [], "user-variables": {}}),
        Event(TEST_DOMAIN, "clicked", recipient, message_id, key=f"click-{message_id}",
              payload={"recipient": recipient, "message": {"headers": headers}, "client-info": client,
                       "geolocation": geo, "url": FORMULA_URL, "tags": [],
                       "user-variables": {}}),
        Event(TEST_DOMAIN, "failed", recipient, message_id, key=f"fail-{message_id}", severity="temporary",
              payload={"recipient": recipient, "message": {"headers": headers}, "severity": "temporary",
                       "reason": "generic", "delivery-status": {"code": 450, "enhanced-code": "4.2.1",
                                                                "message": HOSTILE_REPLY,
                                                                "mx-host": "mx.example.org"},
                       "tags": [], "user-variables": {}}),
    ]
    server.run(server.gateway.storage.save_events(events))


def test_the_timeline_shows_every_event_as_the_events_api_does(browser, server, screenshots) -> None:
    message_id = send_to(server, MEMBER)
    wait_for_events(server, MEMBER, 2)  # accepted and delivered from the outbox
    seed_engagement(server, MEMBER, message_id)
    send_to(server, "someone-else@example.org")
    wait_for_events(server, MEMBER, 5)  # the seeded events show once their second has passed
    polled = httpx.get(f"{server.url}{ROOT}/events", params={"recipient": MEMBER, "ascending": "yes"},
                       headers={**basic_auth(), "User-Agent": GHOST_AGENT}, timeout=30)
    assert polled.status_code == 200
    items = polled.json()["items"]
    assert [i["event"] for i in items][-3:] == ["opened", "clicked", "failed"] and len(items) >= 5

    context, page = signed_in_page(browser, server, "ops@example.com")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{server.url}/dashboard/timeline")
    page.fill("input[name=q]", MEMBER)
    page.click("form[role=search] button[type=submit]")
    assert "q=member%40example.org" in page.url and f"domain={TEST_DOMAIN}" in page.url  # shareable
    rows = page.locator("#timeline tbody tr")
    assert rows.count() == len(items)
    for index, item in enumerate(items):
        row = rows.nth(index)
        assert row.get_attribute("data-event-id") == item["id"]
        assert row.locator(".event").inner_text() == item["event"]
        assert json.loads(row.locator("pre.json").text_content()) == item  # the exact event JSON
    failed = rows.nth(len(items) - 1)
    assert HOSTILE_REPLY in failed.locator(".provider-reply").inner_text()
    assert "450 4.2.1" in failed.locator(".provider-reply").inner_text()
    opened = rows.nth(len(items) - 3)
    assert "Thunderbird, Linux, desktop · Lyon, ARA, FR" in opened.locator(".client-info").inner_text()
    assert GHOST_AGENT in page.inner_text("#last-poll")
    assert rows.nth(0).locator(".subject").inner_text() == HOSTILE_SUBJECT  # from the accepted event

    # The same events by message id, as Ghost stores it (with or without angle brackets).
    page.goto(f"{server.url}/dashboard/timeline?domain={TEST_DOMAIN}&by=message&q=%3C{message_id}%3E")
    assert [rows.nth(i).get_attribute("data-event-id") for i in range(rows.count())] == [i["id"] for i in items]

    # Hostile values are text: nothing ran, no element was made of them.
    page.locator("#timeline details").last.evaluate("d => d.open = true")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    assert page.locator("#timeline b, #timeline script, #timeline img, #timeline svg").count() == 0
    assert HOSTILE_TAG in rows.nth(0).locator(".tag").inner_text()

    export = context.request.get(f"{server.url}/dashboard/timeline.csv?domain={TEST_DOMAIN}&by=recipient&q={MEMBER}")
    assert export.status == 200 and export.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(export.text())))
    assert [r["event_id"] for r in table] == [i["id"] for i in items]
    assert [r["event"] for r in table] == [i["event"] for i in items]
    assert table[-1]["provider_reply"] == HOSTILE_REPLY and table[-1]["status_code"] == "450"
    assert table[-2]["url"] == "'" + FORMULA_URL  # a spreadsheet shows it as text

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{server.url}/dashboard/timeline?domain={TEST_DOMAIN}&by=recipient&q={MEMBER}")
    page.locator("#timeline details").nth(len(items) - 1).evaluate("d => d.open = true")
    page.emulate_media(color_scheme="light")
    page.screenshot(path=screenshots / "timeline-light.png", full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "timeline-dark.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    page.screenshot(path=screenshots / "timeline-phone-dark.png", full_page=True)
    context.close()


def api_entry(server, list_name: str, address: str) -> httpx.Response:
    return api("GET", server, f"{ROOT}/{list_name}/{address}")


def form_of(page, selector: str) -> dict[str, str]:
    return {name: page.locator(f"{selector} input[name={name}]").get_attribute("value")
            for name in ("csrf_token", "domain", "list")}


def test_an_admin_adds_lifts_imports_and_exports_suppressions(browser, server, screenshots) -> None:
    assert api("POST", server, f"{ROOT}/bounces", data={"address": HOSTILE_ADDRESS, "code": "554",
                                                        "error": HOSTILE_SUBJECT}).status_code == 200
    many = [{"address": f"page{i:03}@example.net", "code": 550} for i in range(60)]
    assert api("POST", server, f"{ROOT}/bounces", json=many).status_code == 200
    context, page = signed_in_page(browser, server, "admin@example.com")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # Add, then check through the API; the audit trail names the dashboard user.
    page.goto(f"{server.url}/dashboard/suppressions?domain={TEST_DOMAIN}&list=bounces")
    page.fill("#add-suppression input[name=address]", "Bad@Example.org")
    page.fill("#add-suppression input[name=code]", "551")
    page.fill("#add-suppression input[name=error]", "no such user")
    page.click("#add-suppression button[type=submit]")
    assert "Added." in page.inner_text(".notice")
    entry = api_entry(server, "bounces", "bad@example.org")
    assert entry.status_code == 200 and entry.json()["code"] == "551" and entry.json()["error"] == "no such user"
    audit = page.locator("#audit tbody tr").first.inner_text()
    assert "admin@example.com" in audit and "add" in audit and "Bad@Example.org" in audit

    # Filter by prefix, kept in the URL.
    page.goto(f"{server.url}/dashboard/suppressions?domain={TEST_DOMAIN}&list=bounces&prefix=bad")
    assert page.locator("#suppressions tbody tr").count() == 1
    assert page.locator("input[name=prefix]").input_value() == "bad"

    # Lift it, then the API no longer has it.
    page.click("#suppressions button:has-text('Lift')")
    assert "Lifted." in page.inner_text(".notice")
    assert api_entry(server, "bounces", "bad@example.org").status_code == 404
    audit = page.locator("#audit tbody tr").first.inner_text()
    assert "delete" in audit and "admin@example.com" in audit

    # Keyset pages: 50, then the rest, every entry once, in address order.
    page.goto(f"{server.url}/dashboard/suppressions?domain={TEST_DOMAIN}&list=bounces&prefix=page")
    first = page.locator("#suppressions tbody td.address").all_inner_texts()
    page.click("a[rel=next]")
    assert "after=page049%40example.net" in page.url and "prefix=page" in page.url
    second = page.locator("#suppressions tbody td.address").all_inner_texts()
    assert first + second == [m["address"] for m in many]

    # Import: the whole file or nothing.
    page.goto(f"{server.url}/dashboard/suppressions?domain={TEST_DOMAIN}&list=unsubscribes")
    page.set_input_files("#import-suppressions input[name=file]", files=[{
        "name": "bad.csv", "mimeType": "text/csv", "buffer": b"address,tags\nok@example.org,news\nnot-an-address,\n"}])
    page.click("#import-suppressions button[type=submit]")
    assert "CSV line 3: 'address' parameter is not a valid email address: not-an-address" in page.inner_text(".error")
    assert api_entry(server, "unsubscribes", "ok@example.org").status_code == 404
    page.set_input_files("#import-suppressions input[name=file]", files=[{
        "name": "good.csv", "mimeType": "text/csv",
        "buffer": b"address,tags\nok@example.org,\"news, promo\"\nall@example.org,\n"}])
    page.click("#import-suppressions button[type=submit]")
    assert "Imported." in page.inner_text(".notice")
    assert api_entry(server, "unsubscribes", "ok@example.org").json()["tags"] == ["news", "promo"]
    assert api_entry(server, "unsubscribes", "all@example.org").json()["tags"] == ["*"]
    assert page.locator("#audit tbody tr:has-text('import')").count() == 2

    # Export: the API's entries, in the import's columns.
    export = context.request.get(f"{server.url}/dashboard/suppressions.csv?domain={TEST_DOMAIN}&list=bounces")
    assert export.status == 200 and "attachment" in export.headers["content-disposition"]
    exported = list(csv.DictReader(io.StringIO(export.text())))
    listed = api("GET", server, f"{ROOT}/bounces", params={"limit": 1000}).json()["items"]
    assert [(r["address"], r["code"], r["error"], r["created_at"]) for r in exported] == \
        [(i["address"], i["code"], i["error"], i["created_at"]) for i in listed]

    # The hostile address and error are shown as text.
    page.goto(f"{server.url}/dashboard/suppressions?domain={TEST_DOMAIN}&list=bounces&prefix=%3C")
    assert page.locator("#suppressions tbody td.address").first.inner_text() == HOSTILE_ADDRESS
    assert HOSTILE_SUBJECT in page.inner_text("#suppressions")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    assert page.locator("#suppressions img, #suppressions script").count() == 0

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{server.url}/dashboard/suppressions?domain={TEST_DOMAIN}&list=unsubscribes")
    page.emulate_media(color_scheme="light")
    page.screenshot(path=screenshots / "suppressions-light.png", full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "suppressions-dark.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="light")
    assert page.evaluate("document.documentElement.scrollWidth") == 390  # only the tables scroll sideways
    page.screenshot(path=screenshots / "suppressions-phone-light.png", full_page=True)
    context.close()


def test_a_viewer_cannot_change_suppressions_and_csrf_is_refused(browser, server) -> None:
    assert api("POST", server, f"{ROOT}/complaints", data={"address": "kept@example.org"}).status_code == 200
    context, page = signed_in_page(browser, server, "viewer@example.com", role="viewer")
    page.goto(f"{server.url}/dashboard/suppressions?domain={TEST_DOMAIN}&list=complaints")
    assert page.locator("#suppressions tbody tr").count() == 1
    assert page.locator("#add-suppression, #import-suppressions, #suppressions form").count() == 0
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    target = {"domain": TEST_DOMAIN, "list": "complaints", "address": "kept@example.org", "csrf_token": token}
    lift = context.request.post(f"{server.url}/dashboard/suppressions/lift", form=target, max_redirects=0)
    add = context.request.post(f"{server.url}/dashboard/suppressions/add",
                               form={**target, "address": "new@example.org"}, max_redirects=0)
    assert lift.status == 403 and add.status == 403
    assert api_entry(server, "complaints", "kept@example.org").status_code == 200
    assert api_entry(server, "complaints", "new@example.org").status_code == 404
    context.close()

    context, page = signed_in_page(browser, server, "admin2@example.com")
    page.goto(f"{server.url}/dashboard/suppressions?domain={TEST_DOMAIN}&list=complaints")
    fields = form_of(page, "#suppressions form")
    target = {"domain": TEST_DOMAIN, "list": "complaints", "address": "kept@example.org"}
    missing = context.request.post(f"{server.url}/dashboard/suppressions/lift", form=target, max_redirects=0)
    wrong = context.request.post(f"{server.url}/dashboard/suppressions/lift",
                                 form={**target, "csrf_token": "0" * 64}, max_redirects=0)
    assert missing.status == 403 and wrong.status == 403
    assert api_entry(server, "complaints", "kept@example.org").status_code == 200
    done = context.request.post(f"{server.url}/dashboard/suppressions/lift",
                                form={**target, "csrf_token": fields["csrf_token"]}, max_redirects=0)
    assert done.status == 303
    assert api_entry(server, "complaints", "kept@example.org").status_code == 404
    context.close()


def test_events_reads_are_noted_on_the_apis_listener_even_with_a_dashboard_listener(live_server) -> None:
    from postgate.testing.fixtures import free_port
    from postgate_dashboard.web_plugin import dashboard_of

    server = live_server(plugins=[postgate_dashboard], background=False,
                         plugin_settings={"dashboard": {"listen": f"127.0.0.1:{free_port()}"}})
    polls = dashboard_of(server.gateway).polls
    refused = httpx.get(f"{server.url}{ROOT}/events", headers=basic_auth("key-wrong"), timeout=30)
    other = api("GET", server, f"{ROOT}/bounces")
    assert refused.status_code == 401 and other.status_code == 200
    assert polls.get(TEST_DOMAIN) is None  # a refused read and other API calls are not polls
    first = httpx.get(f"{server.url}{ROOT}/events", headers={**basic_auth(), "User-Agent": GHOST_AGENT},
                      params={"limit": 1}, timeout=30)
    assert first.status_code == 200
    noted = polls.get(TEST_DOMAIN)
    assert noted is not None and noted.user_agent == GHOST_AGENT
    by_token = httpx.get(first.json()["paging"]["next"], headers={**basic_auth(), "User-Agent": "paging/1"},
                         timeout=30)
    assert by_token.status_code == 200 and polls.get(TEST_DOMAIN).user_agent == "paging/1"
