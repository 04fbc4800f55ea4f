"""The official Python SDK (``mailgun`` 1.10.0 on PyPI) against a live Postgate.

``Client(auth=("api", key), api_url=server.url)``: the SDK allows plain http for 127.0.0.1, adds
``/v3`` or ``/v4`` per endpoint, sends urlencoded bodies without files and multipart with them,
and percent-encodes addresses in paths (``+`` as ``%2B``). Contract §1.1, §2.2, §4, §5, §6, §8.
"""

from __future__ import annotations

import re
import time

import pytest
from mailgun.client import Client

from e2e_harness import SIMULATOR, Harness

MAILGUN_ID = re.compile(r"^<\d{14}\.[0-9a-f]{16}@mg\.example\.com>$")


@pytest.fixture
def sdk(e2e: Harness):
    client = Client(auth=("api", e2e.key), api_url=e2e.url)
    yield client
    client.close()


def test_urlencoded_send_is_delivered_and_read_back_with_events_get(e2e, sdk):
    begin = time.time() - 5
    data = {
        "from": "Shop <orders@mg.example.com>",
        "to": ["Ann <ann+orders@example.com>", "ben@example.com"],
        "subject": "Order %recipient.order%",
        "text": "Hello %recipient.name%, order %recipient.order% ships today.",
        "html": "<p>Hello %recipient.name%</p>",
        "o:tag": ["orders", "September newsletter"],
        "o:tracking": True,  # arrives as the string "True" (§2.4)
        "v:campaign": "c-%recipient.order%",
        "h:Reply-To": "support@mg.example.com",
        "recipient-variables": '{"ann+orders@example.com": {"name": "Ann", "order": "1001"},'
                               ' "ben@example.com": {"name": "Ben", "order": "1002"}}',
    }

    response = sdk.messages.create(domain=e2e.domain, data=data)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert MAILGUN_ID.match(body["id"]) and body["message"].startswith("Queued")
    bare_id = body["id"][1:-1]
    e2e.wait_events("delivered", 2)

    mails = {m.to: m for m in e2e.emls()}
    assert set(mails) == {"ann+orders@example.com", "ben@example.com"}
    assert mails["ann+orders@example.com"].header("Subject") == "Order 1001"
    assert "Hello Ann, order 1001 ships today." in mails["ann+orders@example.com"].body("plain")
    assert mails["ben@example.com"].header("Reply-To") == "support@mg.example.com"
    assert "ann" not in str(mails["ben@example.com"].header("To")).lower()  # batch mode: only yourself

    events = sdk.events.get(domain=e2e.domain, filters={
        "event": "delivered", "ascending": "yes", "limit": 300, "begin": f"{begin:.3f}",
    })
    assert events.status_code == 200, events.text
    page = events.json()
    items = page["items"]
    assert sorted(i["recipient"] for i in items) == ["ann+orders@example.com", "ben@example.com"]
    for item in items:
        assert item["message"]["headers"]["message-id"] == bare_id
        assert sorted(item["tags"]) == ["September newsletter", "orders"]
        order = "1001" if item["recipient"].startswith("ann") else "1002"
        assert item["user-variables"]["campaign"] == f"c-{order}"
    assert page["paging"]["next"].startswith(e2e.url + "/v3/mg.example.com/events/")

    # The SDK pages by copying next's query string: the same page again (§3.4), never an error.
    again = sdk.events.get(domain=e2e.domain, filters={"event": "delivered", "ascending": "yes", "limit": 300,
                                                       "begin": f"{begin:.3f}"})
    assert [i["id"] for i in again.json()["items"]] == [i["id"] for i in items]


def test_multipart_send_with_files(e2e, sdk):
    response = sdk.messages.create(
        domain=e2e.domain,
        data={"from": "reports@mg.example.com", "to": "carl+files@example.com",
              "subject": "Your report", "text": "Attached.", "o:testmode": False},
        files=[("attachment", ("report.csv", b"a,b\n1,2\n")),
               ("attachment", ("notes.txt", b"second file"))],
    )

    assert response.status_code == 200, response.text
    assert MAILGUN_ID.match(response.json()["id"])
    e2e.wait_events("delivered", 1, recipient="carl+files@example.com")
    [mail] = e2e.emls()
    attachments = {part.get_filename(): part.get_content() for part in mail.message.iter_attachments()}
    assert set(attachments) == {"report.csv", "notes.txt"}
    assert attachments["notes.txt"] in ("second file", b"second file")
    report = attachments["report.csv"]
    assert (report.encode() if isinstance(report, str) else report).replace(b"\r\n", b"\n") == b"a,b\n1,2\n"


@pytest.mark.parametrize(
    ("endpoint", "list_name", "address_kw", "create_data", "created_message", "deleted_message", "missing"),
    [
        ("bounces", "bounces", "bounce_address", {"code": 550, "error": "Mailbox full"},
         "Address has been added to the bounces table", "Bounced address has been removed",
         "Address not found in bounces table"),
        ("unsubscribes", "unsubscribes", "unsubscribe_address", {"tag": "newsletter"},
         "Address has been added to the unsubscribes table", "Unsubscribe event has been removed",
         "Address not found in unsubscribers table"),
        ("complaints", "complaints", "complaint_address", {},
         "Address has been added to the complaints table", "Spam complaint has been removed",
         "No spam complaints found for this address"),
    ],
)
def test_suppressions_create_get_delete_with_plus_addresses(e2e, sdk, endpoint, list_name, address_kw,
                                                            create_data, created_message, deleted_message,
                                                            missing):
    address = f"pat+{list_name}@example.com"
    api = getattr(sdk, endpoint)

    created = api.create(domain=e2e.domain, data={"address": address, **create_data})
    got = api.get(domain=e2e.domain, **{address_kw: address})
    listed = api.get(domain=e2e.domain)
    deleted = api.delete(domain=e2e.domain, **{address_kw: address})
    gone = api.get(domain=e2e.domain, **{address_kw: address})

    assert created.status_code == 200, created.text
    assert created.json()["message"] == created_message
    assert got.status_code == 200, got.text
    entry = got.json()
    assert entry["address"] == address
    assert entry["created_at"].endswith(("UTC", "GMT", "+0000"))
    if list_name == "bounces":
        assert str(entry["code"]) == "550" and entry["error"] == "Mailbox full"
    if list_name == "unsubscribes":
        assert entry["tags"] == ["newsletter"]
    assert listed.status_code == 200
    assert [item["address"] for item in listed.json()["items"]] == [address]
    assert set(listed.json()["paging"]) >= {"first", "last", "next", "previous"}
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["message"] == deleted_message
    assert gone.status_code == 404
    assert gone.json()["message"] == missing


def test_suppression_created_by_the_sdk_drops_the_next_send(e2e, sdk):
    address = "quinn+drop@example.com"
    created = sdk.bounces.create(domain=e2e.domain, data={"address": address, "code": "550", "error": "x"},
                                 headers={"Content-Type": "application/json"})  # one JSON object (§4.4)
    assert created.status_code == 200, created.text

    sent = sdk.messages.create(domain=e2e.domain, data={"from": "a@mg.example.com", "to": address,
                                                        "subject": "s", "text": "t"})

    assert sent.status_code == 200
    dropped = e2e.wait_events("failed", 1, recipient=address)[0]
    assert dropped["delivery-status"]["code"] == 605 and dropped["severity"] == "permanent"
    assert e2e.emls() == []


def test_simulator_bounce_lands_on_the_bounce_list(e2e, sdk):
    address = f"bounce+sdk@{SIMULATOR}"
    sent = sdk.messages.create(domain=e2e.domain, data={"from": "a@mg.example.com", "to": address,
                                                        "subject": "s", "text": "t"})
    assert sent.status_code == 200
    e2e.wait_events("failed", 1, recipient=address)

    entry = e2e.wait_for(
        lambda: (r := sdk.bounces.get(domain=e2e.domain, bounce_address=address)).status_code == 200 and r.json(),
        timeout=30, what="the bounce list entry")

    assert entry["address"] == address
    assert str(entry["code"]) == "550"


def test_domains_list_and_get(e2e, sdk):
    listed = sdk.domainlist.get()
    got = sdk.domains.get(domain_name=e2e.domain)

    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total_count"] == 1
    assert [d["name"] for d in body["items"]] == [e2e.domain]
    assert body["items"][0]["state"] == "active"
    assert got.status_code == 200, got.text
    assert got.json()["domain"]["name"] == e2e.domain
    assert isinstance(got.json()["sending_dns_records"], list)


def test_tags_and_stats_after_a_send(e2e, sdk):
    sent = sdk.messages.create(domain=e2e.domain, data={
        "from": "a@mg.example.com", "to": ["s1@example.com", "s2@example.com"], "subject": "s", "text": "t",
        "o:tag": ["weekly"],
    })
    assert sent.status_code == 200
    e2e.wait_events("delivered", 2)

    tags = sdk.tags.get(domain=e2e.domain)
    tag = sdk.tags.get(domain=e2e.domain, tag_name="weekly")
    stats = sdk.stats_total.get(domain=e2e.domain, filters={"event": ["accepted", "delivered"], "duration": "1m"})
    tag_stats = sdk.tags_stats.get(domain=e2e.domain, tag_name="weekly", filters={"event": ["delivered"]})

    assert tags.status_code == 200, tags.text
    assert [t["tag"] for t in tags.json()["items"]] == ["weekly"]
    assert tag.status_code == 200 and tag.json()["tag"] == "weekly"
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert {"start", "end", "resolution", "stats"} <= set(body)
    assert sum(row["accepted"]["total"] for row in body["stats"]) == 2
    assert sum(row["delivered"]["total"] for row in body["stats"]) == 2
    assert tag_stats.status_code == 200, tag_stats.text
    assert tag_stats.json()["tag"] == "weekly"
    assert sum(row["delivered"]["total"] for row in tag_stats.json()["stats"]) == 2


BAD = {"from": "a@mg.example.com", "to": "x@example.com", "subject": "s", "text": "t"}


@pytest.mark.parametrize(
    ("name", "data", "pattern"),
    [
        ("missing from", {k: v for k, v in BAD.items() if k != "from"}, r"^'?from'? parameter is missing$"),
        ("missing to", {k: v for k, v in BAD.items() if k != "to"}, r"^'?to'? parameter is missing$"),
        ("missing text and html", {k: v for k, v in BAD.items() if k != "text"},
         r"^Need at least one of 'text' or 'html' parameters specified$"),
        ("bad recipient-variables", {**BAD, "recipient-variables": "[1,"},
         r"^'recipient-variables' parameter is not a valid JSON$"),
        ("bad deliverytime", {**BAD, "o:deliverytime": "31/12/2030 10:00"},
         r"(is not an RFC-2822 compliant date|invalid delivery time format)"),
        ("too many recipients", {**BAD, "to": [f"n{i}@example.com" for i in range(1001)]},
         r"^Too many recipients, max is 1000$"),
    ],
)
def test_bad_sends_through_the_sdk(e2e, sdk, name, data, pattern):
    response = sdk.messages.create(domain=e2e.domain, data=data)

    assert response.status_code == 400, (name, response.text)
    assert response.reason == "Bad Request"
    assert re.search(pattern, response.json()["message"]), (name, response.text)
    assert e2e.count_batches() == 0
    assert e2e.stored_events() == []


def test_wrong_key_and_unknown_domain_through_the_sdk(e2e):
    with Client(auth=("api", "key-wrong"), api_url=e2e.url) as wrong:
        forbidden = wrong.messages.create(domain=e2e.domain, data=BAD)
    with Client(auth=("api", e2e.key), api_url=e2e.url) as client:
        unknown = client.messages.create(domain="unknown.example.com", data=BAD)
        unknown_events = client.events.get(domain="unknown.example.com", filters={"ascending": "yes"})

    assert forbidden.status_code == 401
    assert forbidden.text == "Forbidden"
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Domain not found: unknown.example.com"
    assert unknown_events.status_code == 404
    assert e2e.count_batches() == 0
    assert e2e.stored_events() == []
