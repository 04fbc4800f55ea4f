"""The Reputation page's rates are what their rows say they are, on SQLite and MariaDB: for a
domain where accepted, processed and sent all differ (suppression drops, messages still in
flight), every rate shown equals the count over the denominator shown in the same row, on the page
and in its CSV export; the hard-bounce rate is AWS SES's (hard bounces per email sent, suppression
drops in neither), the complaint rate Gmail's and Yahoo's (complaints per message delivered); the
Overview's Bounced (hard) card keeps Mailgun's ``bounce_rate`` over processed, under its own label."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid

import httpx
import pytest

import postgate_dashboard
import postgate_mysql
from postgate import Event
from postgate.testing.fixtures import TEST_DOMAIN
from postgate.testing.mariadb import throwaway_database
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.web.accounts import create_user

PASSWORD = "correct horse battery"
#: What is seeded: 60 accepted; 40 delivered; 6 hard bounces; 4 suppression drops (never sent);
#: 10 still in flight; 2 deferrals; 1 complaint.
ACCEPTED, DELIVERED, BOUNCED, SUPPRESSED, COMPLAINED = 60, 40, 6, 4, 1
PROCESSED = DELIVERED + BOUNCED + SUPPRESSED  # 50: Mailgun's processed_count
SENT = DELIVERED + BOUNCED  # 46: what the provider took, SES's emails sent


@pytest.fixture(params=["sqlite", "mysql"])
def server(request, live_server):
    settings = {"dashboard": {"cookie_secure": False}}
    if request.param == "sqlite":
        yield live_server(plugins=[postgate_dashboard], plugin_settings=settings)
        return
    with throwaway_database() as url:
        srv = live_server(plugins=[postgate_mysql, postgate_dashboard], backends={"storage": "mysql"},
                          plugin_settings={**settings, "mysql": {"url": url}})
        yield srv
        srv.stop()


def event(kind: str, recipient: str, **payload) -> Event:
    body = {"event": kind, "recipient": recipient, "recipient-domain": recipient.rpartition("@")[2],
            "message": {"headers": {"message-id": f"rep@{TEST_DOMAIN}", "subject": "Hello"}}, **payload}
    return Event(domain=TEST_DOMAIN, event=kind, recipient=recipient, message_id=f"rep@{TEST_DOMAIN}",
                 payload=body, key=f"{kind}:{uuid.uuid4().hex}", email_id=None, tags=[],
                 severity=payload.get("severity"))


def seed(server) -> None:
    people = [f"r{i}@gmail.com" for i in range(ACCEPTED)]
    events = [event("accepted", p) for p in people]
    events += [event("delivered", p) for p in people[:DELIVERED]]
    events += [event("failed", p, severity="permanent", reason="bounce",
                     **{"delivery-status": {"code": 550, "enhanced-code": "5.1.1"}})
               for p in people[DELIVERED:DELIVERED + BOUNCED]]
    events += [event("failed", p, severity="permanent", reason="suppress-bounce")
               for p in people[DELIVERED + BOUNCED:PROCESSED]]
    events += [event("failed", p, severity="temporary", reason="generic",
                     **{"delivery-status": {"code": 421, "enhanced-code": "4.7.0"}})
               for p in people[PROCESSED:PROCESSED + 2]]
    events += [event("complained", people[0])]
    server.run(server.gateway.record_events(events))
    server.run(flush(server.gateway))


def signed_in(server) -> httpx.Client:
    server.run(create_user(server.gateway, "pub@example.com", PASSWORD, "viewer"))
    client = httpx.Client(base_url=server.url, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/login").text)[1]
    assert client.post("/dashboard/login", data={"email": "pub@example.com", "password": PASSWORD,
                                                  "csrf_token": token}).status_code == 303
    return client


def pct(n: int, of: int) -> str:
    return f"{100 * n / of:.2f}%"


def page_rows(page: str) -> dict[tuple[str, str], dict[str, str]]:
    """(section id, window) → the row's rate, count, denominator and its header, as shown."""
    found = {}
    for name, section in re.findall(r'<section class="card gauge-card" id="(\w+)"(.*?)</section>', page, re.S):
        header = re.search(r'>Of \((\w+)\)<', section)[1]
        for window, tr in re.findall(r'<tr data-window="([^"]+)">(.*?)</tr>', section, re.S):
            found[(name, window)] = {
                "rate": re.search(r'class="num rate">([^<]*)<', tr)[1],
                "n": re.search(r'class="num n">([\d,]+)<', tr)[1].replace(",", ""),
                "of": re.search(r'class="num of">([\d,]+)<', tr)[1].replace(",", ""), "denominator": header}
    return found


def test_each_rate_is_its_rows_count_over_its_rows_denominator(server) -> None:
    seed(server)
    client = signed_in(server)
    page = client.get(f"/dashboard/reputation?domain={TEST_DOMAIN}").text
    shown = page_rows(page)
    assert len(shown) == 4
    for (name, window), row in shown.items():
        assert row["rate"] == pct(int(row["n"]), int(row["of"])), (name, window, row)
    assert sorted({name for name, _ in shown}) == ["complained_rate", "sent_bounce_rate"]
    for window in ("7 days", "30 days"):  # everything was recorded just now: both windows hold it all
        assert shown[("sent_bounce_rate", window)] == {"rate": pct(BOUNCED, SENT), "n": str(BOUNCED),
                                                       "of": str(SENT), "denominator": "sent"}
        assert shown[("complained_rate", window)] == {"rate": pct(COMPLAINED, DELIVERED), "n": str(COMPLAINED),
                                                      "of": str(DELIVERED), "denominator": "delivered"}
    assert "AWS SES&#39;s bounce rate: hard bounces per email sent" in page

    link = re.search(r'<a href="([^"]+)" download id="reputation-csv">', page)[1]
    response = client.get(html.unescape(link))
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert len(rows) == len(shown) == 4
    for row in rows:
        n, of = int(row["count"]), int(row["of"])
        assert abs(float(row["value"]) - n / of) < 1e-6, row
        assert shown[(row["rate"], row["window"])] == {"rate": pct(n, of), "n": row["count"], "of": row["of"],
                                                       "denominator": row["denominator"]}

    # The Overview's card is Mailgun's bounce_rate (the metrics API's), over processed, and says so.
    overview = client.get(f"/dashboard/overview?domain={TEST_DOMAIN}&period=7d").text
    card = re.search(r'<section class="tile metric" data-rate="bounce_rate">(.*?)</section>', overview, re.S)[1]
    assert re.search(r'<span class="value">([^<]*)<', card)[1].startswith(f"{100 * BOUNCED / PROCESSED:.1f}")
    assert re.search(r'<span class="count">([\d,]+)</span> of ([\d,]+) (\w+)', card).groups() == (
        str(BOUNCED), str(PROCESSED), "processed")
    client.close()
