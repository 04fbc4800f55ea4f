"""Signed unsubscribe links end to end on Hypercorn: ``%unsubscribe_url%`` and friends through the
outbox, ``List-Unsubscribe`` with RFC 8058's one-click ``POST``, the confirmation page and its form,
the ``unsubscribed`` events as Ghost pages them and the domain's ``unsubscribes``."""

from __future__ import annotations

import json
import re
import socket
import time
from urllib.parse import urlencode

import httpx
import postgate_mysql
import pytest

from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate.testing.mariadb import temporary_database
from postgate_tracking import plugin
from postgate_tracking.state import tracking_for
from postgate_tracking.unsubscribe import DOMAIN, sign
from tracking_helpers import BASE_URL, KEYS, body, events, local, outbox, send_batch, tracking_settings

TAGS = ["newsletter", "weekly"]
HTML = ('<html><body><p>Hi %recipient.first%</p><a href="%unsubscribe_url%">Unsubscribe</a> '
        '<a href="%tag_unsubscribe_url%">Fewer newsletters</a> '
        '<a href="https://blog.example.com/p/one/">One</a></body></html>')
TEXT = "Hi %recipient.first%\nLeave the list: %mailing_list_unsubscribe_url%\n"
UNSUBSCRIBE_LINK = re.compile(re.escape(BASE_URL) + r"/t/u/[A-Za-z0-9_.-]+")
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def server(live_server, monkeypatch):
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    return live_server(plugins=[plugin], plugin_settings=tracking_settings())


@pytest.fixture(params=["sqlite", "mysql"])
async def any_storage_server(request, live_server, monkeypatch):
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    if request.param == "sqlite":
        yield live_server(plugins=[plugin], plugin_settings=tracking_settings())
        return
    async with temporary_database() as url:
        srv = live_server(plugins=[postgate_mysql, plugin], backends={"storage": "mysql"},
                          plugin_settings={"mysql": {"url": url}, **tracking_settings()})
        yield srv
        srv.stop()  # before the database is dropped


def send(server, recipients: list[str], clicks: str = "yes") -> str:
    variables = {address: {"first": address.split("@")[0].title()} for address in recipients}
    fields = [("from", f"News <news@{TEST_DOMAIN}>"), *(("to", address) for address in recipients),
              ("subject", "Issue 1"), ("html", HTML), ("text", TEXT),
              ("recipient-variables", json.dumps(variables)),
              ("h:List-Unsubscribe", "<%unsubscribe_url%>, <%unsubscribe_email%>"),
              ("v:issue", "1"), ("o:tracking-clicks", clicks), *(("o:tag", tag) for tag in TAGS)]
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as http:
        answer = http.post(f"/v3/{TEST_DOMAIN}/messages", content=urlencode(fields),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def links(mail) -> dict[str, str]:
    """The message's unsubscribe links: its List-Unsubscribe one, the two HTML ones, the text one."""
    html = body(mail, "html")
    domain_link = re.search(r'href="([^"]+)">Unsubscribe<', html).group(1)
    tag_link = re.search(r'href="([^"]+)">Fewer newsletters<', html).group(1)
    list_link = UNSUBSCRIBE_LINK.search(body(mail, "plain")).group(0)
    header = re.fullmatch(r"<([^>]+)>", str(mail["List-Unsubscribe"]).strip()).group(1)
    return {"domain": domain_link, "tags": tag_link, "list": list_link, "header": header}


def unsubscribes(server) -> dict[str, list[str]]:
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as http:
        answer = http.get(f"/v3/{TEST_DOMAIN}/unsubscribes")
    assert answer.status_code == 200, answer.text
    return {item["address"]: sorted(item["tags"]) for item in answer.json()["items"]}


def settle(server) -> None:
    """Wait for the click-tracking flusher (the unsubscribe path itself stores before answering)."""
    server.run(tracking_for(server.gateway).recorder.flush())


def test_one_click_post_unsubscribes_from_the_domain(any_storage_server) -> None:
    server = any_storage_server
    send(server, ["ann@example.com", "bob@example.com"])
    mails = {m["To"].addresses[0].addr_spec: m for m in outbox(server, 2)}
    ann, bob = links(mails["ann@example.com"]), links(mails["bob@example.com"])
    mail = mails["ann@example.com"]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "mailto:" not in str(mail["List-Unsubscribe"]) and "%" not in str(mail["List-Unsubscribe"])
    assert ann["header"] == ann["domain"] and ann["domain"] != ann["tags"] != ann["list"]
    assert ann["domain"] != bob["domain"]
    assert all(link.startswith(BASE_URL + "/t/u/") for link in ann.values())
    # Click tracking rewrote the article link but never an unsubscribe link.
    assert "/t/c/" in body(mail, "html") and "https://blog.example.com/p/one/" not in body(mail, "html")

    with httpx.Client(timeout=30) as http:
        first = http.post(local(server, ann["header"]), data=ONE_CLICK, headers={"User-Agent": "Gmail"})
        again = http.post(local(server, ann["header"]), data=ONE_CLICK)
    assert first.status_code == again.status_code == 200
    assert first.content == b"" and "no-store" in first.headers["cache-control"]
    found = events(server, "unsubscribed", 1)
    assert len(found) == 1
    event = found[0]
    assert event["recipient"] == "ann@example.com" and sorted(event["tags"]) == TAGS
    assert event["user-variables"] == {"issue": "1"}
    assert event["message"]["headers"]["message-id"] == mail["Message-ID"].strip("<>")
    assert event["unsubscribe-scope"] == "domain" and event["client-info"]["bot"] == ""
    assert unsubscribes(server) == {"ann@example.com": ["*"]}


def test_confirmation_page_form_and_tag_links(server) -> None:
    send(server, ["bob@example.com"], clicks="no")  # the links come without any tracking too
    mail = outbox(server, 1)[0]
    assert "/t/c/" not in body(mail, "html")
    bob = links(mail)
    with httpx.Client(timeout=30) as http:
        page = http.get(local(server, bob["tags"]))
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "<script" not in page.text.lower() and "bob@example.com" in page.text
        assert "newsletter, weekly" in page.text
        assert unsubscribes(server) == {} and events(server, "unsubscribed", 0, timeout=0) == []
        form = re.search(r'<form method="post">([\s\S]*?)</form>', page.text).group(1)
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', form))
        assert fields["List-Unsubscribe"] == "One-Click"
        done = http.post(local(server, bob["tags"]), data=fields)
        assert done.status_code == 200 and "You are unsubscribed" in done.text
        assert unsubscribes(server) == {"bob@example.com": TAGS}
        # A later domain link widens the entry to every tag; the list link adds nothing new.
        assert http.post(local(server, bob["domain"]), data=ONE_CLICK).status_code == 200
        assert http.post(local(server, bob["list"]), data=ONE_CLICK).status_code == 200
    assert unsubscribes(server) == {"bob@example.com": ["*"]}
    scopes = sorted(event["unsubscribe-scope"] for event in events(server, "unsubscribed", 3))
    assert scopes == ["domain", "mailing-list", "tags"]


def test_tampered_and_foreign_tokens_are_not_found(server) -> None:
    send(server, ["cy@example.com"])
    link = links(outbox(server, 1)[0])["domain"]
    token = link.rsplit("/", 1)[1]
    key_id, _, encoded = token.partition(".")
    flipped = encoded[:10] + ("A" if encoded[10] != "A" else "B") + encoded[11:]
    signer = tracking_for(server.gateway).signer
    open_token = signer.sign("o", 1, 1)
    bad = [f"{key_id}.{flipped}", f"zz.{encoded}", token[:-1], open_token, token + "A",
           sign(signer, 999_999, 1, DOMAIN)]  # genuine MAC, unknown batch
    with httpx.Client(timeout=30) as http:
        for candidate in bad:
            url = f"{server.url}/t/u/{candidate}"
            assert http.get(url).status_code == 404, candidate
            answer = http.post(url, data=ONE_CLICK)
            assert answer.status_code == 404 and answer.json() == {"message": "Not found"}
        missing_body = http.post(local(server, link), data={"confirm": "page"})
    assert missing_body.status_code == 400 and "One-Click" in missing_body.json()["message"]
    settle(server)
    assert unsubscribes(server) == {} and events(server, "unsubscribed", 0, timeout=0) == []


def test_ghost_links_stay_untouched(server) -> None:
    send_batch(server, ["dee@example.com"], "6740a1b2c3d4e5f6a7b8c9d0")
    mail = outbox(server, 1)[0]
    header = str(mail["List-Unsubscribe"])
    assert re.fullmatch(r"<https://blog\.example\.com/unsubscribe/\?uuid=[0-9a-f]+&key=k>", header), header
    assert mail.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    assert "/t/u/" not in body(mail, "html") + body(mail, "plain")


def test_a_refused_one_click_post_leaves_the_connection_usable(server) -> None:
    """The body is read before the 404, so a client on a keep-alive connection (whose body may
    arrive after its headers) gets an answer to its next request on it."""
    body = b"List-Unsubscribe=One-Click"
    head = (f"POST /t/u/k2.forged HTTP/1.1\r\nHost: email.mg.example.com\r\nContent-Type: "
            f"application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        reader = conn.makefile("rb")
        conn.sendall(head)
        time.sleep(0.5)  # the body comes later, as from a slow client; answered early, it closed the connection
        conn.sendall(body)
        assert reader.readline().startswith(b"HTTP/1.1 404")
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        assert json.loads(reader.read(length)) == {"message": "Not found"}
        conn.sendall(b"GET /t/u/k2.forged HTTP/1.1\r\nHost: email.mg.example.com\r\n\r\n")
        assert reader.readline().startswith(b"HTTP/1.1 404")
