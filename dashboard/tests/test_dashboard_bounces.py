"""The bounce explorer in a real browser (Debian's chromium through playwright): a Ghost-shaped send
through the API and the outbox (the simulator's bounce, complaint, suppression drop and deferral)
plus failures recorded through ``gateway.record_events``; the groups shown equal the counts from
``GET /v3/{domain}/events``; a group's recipients page by keyset and export as CSV; an admin
suppresses and lifts inline (checked through the API and the audit trail); a viewer is refused;
hostile reasons render inert. Screenshots go to ``tests/artifacts/screenshots/``."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections import Counter

import httpx
import pytest

import postgate_dashboard
import postgate_suppression_audit
from postgate import Event
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.web.accounts import create_user

PASSWORD = "correct horse battery"
SIM = "simulator.amazonses.com"
HOSTILE = "<img src=x onerror=window.__pwned=1>"
PROVIDER_OF = {"gmail.com": "gmail", "yahoo.com": "yahoo", "icloud.com": "icloud", SIM: "other"}
#: More hard bounces in one group than a page shows.
MANY = 55


@pytest.fixture
def server(live_server):
    return live_server(plugins=[postgate_dashboard, postgate_suppression_audit])


def send_ghost_batch(server, addresses: list[str]) -> None:
    variables = {a: {"name": f"Member {i}"} for i, a in enumerate(addresses)}
    form = {"from": f"My Blog <noreply@{TEST_DOMAIN}>", "subject": "Hello", "html": "<p>Hi</p>",
            "recipient-variables": json.dumps(variables), "v:email-id": "ghost1", "to": addresses}
    response = httpx.post(f"{server.url}/v3/{TEST_DOMAIN}/messages", data=form, headers=basic_auth(), timeout=30)
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 60
    while server.run(server.gateway.queue.depth()):
        assert time.monotonic() < deadline, "the queue did not drain"
        time.sleep(0.05)


def failed(recipient: str, *, severity: str = "permanent", reason: str = "bounce", code: int = 550,
           enhanced: str = "5.1.1", message: str = "mailbox unavailable") -> Event:
    payload = {"event": "failed", "severity": severity, "reason": reason, "recipient": recipient,
               "recipient-domain": recipient.rpartition("@")[2],
               "delivery-status": {"code": code, "enhanced-code": enhanced, "message": message},
               "user-variables": {"email-id": "ghost2"}, "message": {"headers": {"message-id": f"g2@{TEST_DOMAIN}"}}}
    return Event(domain=TEST_DOMAIN, event="failed", recipient=recipient, message_id=f"g2@{TEST_DOMAIN}",
                 payload=payload, key=f"failed:{uuid.uuid4().hex}", email_id="ghost2", severity=severity)


def api_failures(server) -> list[dict]:
    """Every failed and complained event of the test domain through the events API, with its group."""
    out, url = [], f"{server.url}/v3/{TEST_DOMAIN}/events?ascending=yes&limit=300"
    while True:
        page = httpx.get(url, headers=basic_auth(), timeout=30).json()
        if not page["items"]:
            return out
        for item in page["items"]:
            if item["event"] not in ("failed", "complained"):
                continue
            if item["event"] == "complained":
                kind = "complaint"
            elif item["severity"] == "temporary":
                kind = "soft"
            else:
                kind = "suppressed" if item.get("reason", "").startswith("suppress-") else "hard"
            status = item.get("delivery-status") or {}
            code = "" if status.get("code") in (None, "") else str(status["code"])
            out.append({"kind": kind, "code": code, "enhanced": status.get("enhanced-code") or "",
                        "provider": PROVIDER_OF[item["recipient"].rpartition("@")[2].lower()],
                        "recipient": item["recipient"]})
        url = page["paging"]["next"]


def sign_in(browser, server, email: str, role: str):
    server.run(create_user(server.gateway, email, PASSWORD, role))
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return context, page


def number(text: str) -> int:
    return int(text.replace(",", ""))


def bounce_entry(server, address: str) -> httpx.Response:
    return httpx.get(f"{server.url}/v3/{TEST_DOMAIN}/bounces/{address}", headers=basic_auth(), timeout=30)


def test_the_bounce_explorer_groups_drills_down_and_suppresses(browser, server, screenshots) -> None:
    gw = server.gateway
    send_ghost_batch(server, ["ann@gmail.com"] + [f"{k}@{SIM}" for k in ("bounce", "complaint", "suppressionlist",
                                                                         "tempfail")])
    many = [f"gone{i:02d}@gmail.com" for i in range(MANY)]
    server.run(gw.record_events(
        [failed(a) for a in many]
        + [failed("cy@yahoo.com", code=554, enhanced="5.7.1", message=HOSTILE, reason=HOSTILE),
           failed("di@icloud.com", severity="temporary", reason="generic", code=421, enhanced="4.7.0")]))
    server.run(flush(gw))
    time.sleep(1.1)  # the events API shows a second once it is closed to writers
    events = api_failures(server)
    by_kind = Counter(e["kind"] for e in events)
    groups = Counter((e["kind"], e["code"], e["enhanced"], e["provider"]) for e in events)
    assert set(by_kind) == {"hard", "soft", "suppressed", "complaint"} and by_kind["hard"] >= MANY + 1

    context, page = sign_in(browser, server, "admin@example.com", "admin")
    page.on("dialog", lambda d: d.dismiss())
    page.goto(f"{server.url}/dashboard/bounces?domain={TEST_DOMAIN}&period=24h")
    assert page.locator("nav a[aria-current=page]").inner_text() == "Bounces"
    shown_kinds = {row.get_attribute("data-kind"): number(row.locator(".n").inner_text())
                   for row in page.locator("#by-type tbody tr").all()}
    assert shown_kinds == {k: by_kind.get(k, 0) for k in ("hard", "soft", "suppressed", "complaint")}
    shown_groups = Counter({(r.get_attribute("data-kind"), r.get_attribute("data-code"),
                             r.get_attribute("data-enhanced"), r.get_attribute("data-provider")):
                            number(r.locator(".n").inner_text()) for r in page.locator("#groups tbody tr").all()})
    assert shown_groups == groups
    by_code = Counter()
    for (kind, code, enhanced, _), n in groups.items():
        by_code[(kind, code, enhanced)] += n
    assert {(r.get_attribute("data-kind"), r.get_attribute("data-code"), r.get_attribute("data-enhanced")):
            number(r.locator(".n").inner_text()) for r in page.locator("#by-code tbody tr").all()} == dict(by_code)
    by_provider = Counter()
    for (kind, _, _, provider), n in groups.items():
        by_provider[(kind, provider)] += n
    assert {(r.get_attribute("data-kind"), r.get_attribute("data-provider")): number(r.locator(".n").inner_text())
            for r in page.locator("#by-provider tbody tr").all()} == dict(by_provider)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=screenshots / "bounces.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    page.screenshot(path=screenshots / "bounces-phone.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Down to the recipients of one group: newest first, two keyset pages, CSV of all of them.
    page.click("#groups tr[data-kind=hard][data-code='550'][data-enhanced='5.1.1'][data-provider=gmail] a")
    assert "kind=hard" in page.url and "provider=gmail" in page.url and "period=24h" in page.url
    first = page.locator("#recipients tbody tr").evaluate_all("rows => rows.map(r => r.dataset.recipient)")
    assert len(first) == 50
    page.click("a[rel=next]")
    second = page.locator("#recipients tbody tr").evaluate_all("rows => rows.map(r => r.dataset.recipient)")
    want = sorted(e["recipient"] for e in events if (e["kind"], e["code"], e["enhanced"], e["provider"])
                  == ("hard", "550", "5.1.1", "gmail"))
    assert sorted(first + second) == want and not set(first) & set(second)
    assert page.locator("a[rel=next]").count() == 0
    csv_url = page.locator("a[download]").get_attribute("href")
    exported = context.request.get(f"{server.url}{csv_url}")
    assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(exported.text())))
    assert lines[0][:3] == ["time_utc", "recipient", "type"]
    assert sorted(line[1] for line in lines[1:]) == want

    # Hostile reasons (a provider reply is text from outside) stay text.
    page.goto(f"{server.url}/dashboard/bounces?domain={TEST_DOMAIN}&period=24h")
    page.click("#groups tr[data-kind=hard][data-code='554'] a")
    row = page.locator("#recipients tbody tr[data-recipient='cy@yahoo.com']")
    assert HOSTILE in row.locator(".reply").inner_text()
    assert page.locator("#recipients img, #recipients script").count() == 0
    assert page.evaluate("window.__pwned") is None

    # Suppress inline, then lift: checked through the API; the audit trail names the admin.
    assert bounce_entry(server, "cy@yahoo.com").status_code == 404
    row.locator("button", has_text="Suppress").click()
    assert "Suppressed" in page.locator(".notice").inner_text()
    entry = bounce_entry(server, "cy@yahoo.com")
    assert entry.status_code == 200 and str(entry.json()["code"]) == "554"
    row = page.locator("#recipients tbody tr[data-recipient='cy@yahoo.com']")
    assert row.locator(".on-list").count() == 1
    page.screenshot(path=screenshots / "bounce-recipients.png", full_page=True)
    row.locator("button", has_text="Lift").click()
    assert "Lifted" in page.locator(".notice").inner_text()
    assert bounce_entry(server, "cy@yahoo.com").status_code == 404
    page.goto(f"{server.url}/dashboard/suppressions?domain={TEST_DOMAIN}&list=bounces")
    audit = page.locator("#audit tbody tr").all_inner_texts()
    assert any("delete" in r and "cy@yahoo.com" in r and "admin@example.com" in r for r in audit)
    assert any("add" in r and "cy@yahoo.com" in r and "admin@example.com" in r for r in audit)
    # A damaged group or cursor is refused, not guessed.
    assert page.goto(f"{server.url}/dashboard/bounces/recipients?kind=nope").status == 400
    assert page.goto(f"{server.url}/dashboard/bounces/recipients?kind=hard&after=x").status == 400
    context.close()


def test_a_viewer_sees_the_groups_but_cannot_suppress(browser, server) -> None:
    # A hard bounce puts its address on bounces by itself; a "generic" failure does not.
    server.run(server.gateway.record_events([failed("gone@gmail.com"), failed("odd@gmail.com", reason="generic")]))
    server.run(flush(server.gateway))
    time.sleep(1.1)
    assert bounce_entry(server, "gone@gmail.com").status_code == 200
    context, page = sign_in(browser, server, "viewer@example.com", "viewer")
    page.goto(f"{server.url}/dashboard/bounces/recipients?domain={TEST_DOMAIN}&kind=hard&period=24h")
    assert page.locator("#recipients tbody tr").count() == 2
    assert page.locator("#recipients tr[data-recipient='gone@gmail.com'] .on-list").count() == 1
    assert page.locator("#recipients form").count() == 0  # no inline actions shown
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    form = {"domain": TEST_DOMAIN, "kind": "hard", "csrf_token": token}
    for action, address in (("suppress", "odd@gmail.com"), ("lift", "gone@gmail.com")):
        attempt = context.request.post(f"{server.url}/dashboard/bounces/{action}", form={**form, "address": address},
                                       max_redirects=0)
        assert attempt.status == 403
    assert bounce_entry(server, "gone@gmail.com").status_code == 200
    assert bounce_entry(server, "odd@gmail.com").status_code == 404
    # Without the CSRF token even an admin's post is refused.
    admin_context, _admin = sign_in(browser, server, "admin@example.com", "admin")
    refused = admin_context.request.post(f"{server.url}/dashboard/bounces/suppress", max_redirects=0,
                                         form={**form, "address": "odd@gmail.com", "csrf_token": "wrong"})
    assert refused.status == 403 and bounce_entry(server, "odd@gmail.com").status_code == 404
    admin_context.close()
    context.close()
