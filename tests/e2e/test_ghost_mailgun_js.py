"""Ghost 6.65's Mailgun traffic against a live Postgate, through mailgun.js 10.4.0 and form-data 4.0.6.

Every request is made by ``tests/node/ghost_mailgun.js``, which builds the client and the calls
exactly as Ghost's ``mailgun-client.js`` does (contract §2.2, §3.4, §4.1, §9, §10).
"""

from __future__ import annotations

import collections
import math
import re
import time

from e2e_harness import (
    Harness,
    SIMULATOR,
    ghost_email_id,
    ghost_recipient,
    ghost_send_call,
    recipient_message_id,
)

TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
MAILGUN_ID = re.compile(r"^<\d{14}\.[0-9a-f]{16}@mg\.example\.com>$")


def window() -> float:
    """Ghost's ``begin``: a float with milliseconds, a little before the test's first send."""
    return round(time.time() - 5, 3)


def recipients_of(count: int) -> list[str]:
    """Members as Ghost stores them; a few with ``+`` and upper case, which must come back verbatim."""
    out = [f"member{i}@example.com" for i in range(count)]
    out[0] = "Alice.Upper+news@Example.COM"
    out[1] = "bob+x@example.org"
    return out


# -- the newsletter path ---------------------------------------------------------------------------


def test_ghost_batch_of_1000_is_delivered_once_each_and_paged_back_by_ghosts_loop(e2e):
    begin = window()
    email_id = ghost_email_id()
    recipients = recipients_of(1000)

    sent = e2e.ghost_send(recipients, email_id=email_id)

    assert sent["ok"], sent.get("error")
    assert sent["response"]["status"] == 200
    assert sent["id"] == "<%recipient.message_id%>"  # §2.8: the template is echoed unsubstituted
    assert sent["response"]["message"].startswith("Queued")
    variables = sent["recipientData"]

    e2e.wait_events("delivered", 1000, timeout=180)

    # The outbox: one .eml per recipient, rendered for that recipient (§2.3, §11.5, §11.9).
    emls = e2e.emls()
    per_address = collections.Counter(m.to for m in emls)
    assert set(per_address) == set(recipients)
    assert all(count == 1 for count in per_address.values()), per_address.most_common(3)
    assert len(emls) == 1000
    for outboxed in emls:
        address = outboxed.to
        index = recipients.index(address)
        own = ghost_recipient(address, index)
        assert outboxed.message_id == f"<{recipient_message_id(email_id, address)}>"
        assert outboxed.message_id == f"<{variables[address]['message_id']}>"
        assert outboxed.header("Subject") == f"Hello Member {index}"
        html = outboxed.body("html")
        text = outboxed.body("plain")
        assert f"Hi {own['name_html']}" in html  # never HTML-escaped again (§2.3)
        assert f'href="{own["unsubscribe_url"]}"' in html
        assert f"Hi {own['name']}" in text and own["unsubscribe_url"] in text
        unsubscribe = outboxed.header("List-Unsubscribe")
        assert unsubscribe is not None and f"<{own['list_unsubscribe']}>" in unsubscribe
        assert "%" not in unsubscribe  # %tag_unsubscribe_email% expanded or its element dropped
        assert outboxed.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert outboxed.header("Sender") == "My Blog <noreply@mg.example.com>"
        assert "%recipient" not in outboxed.message.as_string()

    # Ghost's analytics job: delivered/failed/unsubscribed/complained tagged bulk-email, 300 a page.
    fetched = e2e.ghost_fetch(begin, round(time.time() + 1, 3))

    assert fetched["ok"], fetched.get("error")
    assert fetched["exhausted"], "Ghost's loop never reached an empty page"
    pages = fetched["pages"]
    assert [len(p["items"]) for p in pages] == [300, 300, 300, 100, 0]
    for page in pages:
        assert page["status"] == 200
        next_link = page["links"]["next"]
        assert TOKEN.match(next_link["page"]), next_link
        assert next_link["url"].startswith("http")
    normalized = [event for batch in fetched["batches"] for event in batch]
    raw = [item for page in pages for item in page["items"]]
    assert len(normalized) == len(raw) == 1000
    assert len({event["id"] for event in normalized}) == 1000, "an event came back twice"
    assert sorted(e["recipientEmail"] for e in normalized) == sorted(recipients)
    timestamps = [item["timestamp"] for item in raw]
    assert timestamps == sorted(timestamps)
    for item, event in zip(raw, normalized):
        address = item["recipient"]
        assert item["event"] == event["type"] == "delivered"
        assert isinstance(item["timestamp"], (int, float)) and not isinstance(item["timestamp"], bool)
        assert begin <= item["timestamp"] <= time.time()
        assert item["message"]["headers"]["message-id"] == recipient_message_id(email_id, address)
        assert event["providerId"] == recipient_message_id(email_id, address)
        assert item["user-variables"]["email-id"] == email_id == event["emailId"]
        assert {"ghost-email", "bulk-email"} <= set(item["tags"])
        assert item["delivery-status"]["code"] == 250
        assert item["log-level"] == "info"


def test_per_recipient_message_id_and_plain_batch_ids(e2e):
    begin = window()
    per_recipient_id_email = ghost_email_id()
    plain_email = ghost_email_id()
    templated = ["carol@example.com", "dave+p@example.net"]
    plain = ["erin@example.com", "frank+q@example.net"]

    first, second = e2e.node([
        ghost_send_call(templated, email_id=per_recipient_id_email),
        ghost_send_call(plain, email_id=plain_email, per_recipient_id=False),
    ])

    assert first["ok"] and first["id"] == "<%recipient.message_id%>"
    assert second["ok"] and MAILGUN_ID.match(second["id"]), second
    plain_id = second["id"][1:-1]
    e2e.wait_events("delivered", 4)
    fetched = e2e.ghost_fetch(begin, round(time.time() + 1, 3))
    assert fetched["ok"] and fetched["exhausted"], fetched.get("error")
    by_recipient = {e["recipientEmail"]: e for batch in fetched["batches"] for e in batch}
    assert set(by_recipient) == set(templated + plain)
    for address in templated:
        assert by_recipient[address]["providerId"] == recipient_message_id(per_recipient_id_email, address)
        assert by_recipient[address]["emailId"] == per_recipient_id_email
    for address in plain:
        assert by_recipient[address]["providerId"] == plain_id  # the same bare id for the whole call
        assert by_recipient[address]["emailId"] == plain_email
    message_ids = {m.to: m.message_id for m in e2e.emls()}
    assert message_ids["erin@example.com"] == message_ids["frank+q@example.net"] == f"<{plain_id}>"
    assert message_ids["carol@example.com"] == f"<{recipient_message_id(per_recipient_id_email, 'carol@example.com')}>"


def test_events_token_wins_over_the_resent_query(e2e):
    """§3.4.1: the next page comes from the token, although begin/end/limit are sent again."""
    begin = window()
    recipients = [f"page{i}@example.com" for i in range(7)]
    assert e2e.ghost_send(recipients, email_id=ghost_email_id())["ok"]
    e2e.wait_events("delivered", 7)

    fetched = e2e.ghost_fetch(begin, round(time.time() + 1, 3), limit=3)

    assert fetched["ok"] and fetched["exhausted"], fetched.get("error")
    assert [len(p["items"]) for p in fetched["pages"]] == [3, 3, 1, 0]
    seen = [e["recipientEmail"] for batch in fetched["batches"] for e in batch]
    assert sorted(seen) == sorted(recipients)


# -- bounces, complaints, unsubscribes and Ghost's suppression removal ----------------------------


def failed_codes(e2e, address: str) -> list[int]:
    return [e["delivery-status"]["code"] for e in e2e.events_of("failed") if e["recipient"] == address]


def test_bounce_then_605_then_ghost_removes_the_bounce(e2e):
    begin = window()
    address = f"bounce+x@{SIMULATOR}"

    assert e2e.ghost_send([address], email_id=ghost_email_id())["ok"]
    first = e2e.wait_events("failed", 1, recipient=address)[0]
    assert first["severity"] == "permanent"
    assert first["reason"] == "bounce"
    assert isinstance(first["delivery-status"]["code"], int) and first["delivery-status"]["code"] == 550
    assert first["log-level"] == "error"

    second_email = ghost_email_id()
    assert e2e.ghost_send([address], email_id=second_email)["ok"]
    e2e.wait_events("failed", 2, recipient=address)
    assert failed_codes(e2e, address) == [550, 605]
    dropped = e2e.events_of("failed")[-1]
    assert dropped["severity"] == "permanent" and dropped["reason"] == "suppress-bounce"
    assert dropped["delivery-status"]["code"] == 605 and isinstance(dropped["delivery-status"]["code"], int)
    assert dropped["user-variables"]["email-id"] == second_email
    assert dropped["message"]["headers"]["message-id"] == recipient_message_id(second_email, address)

    # Ghost sees both as permanent failures with integer codes (what disables the member, §10).
    fetched = e2e.ghost_fetch(begin, round(time.time() + 1, 3))
    assert fetched["ok"], fetched.get("error")
    failures = [e for batch in fetched["batches"] for e in batch if e["type"] == "failed"]
    assert [(e["severity"], e["error"]["code"]) for e in failures] == [("permanent", 550), ("permanent", 605)]
    assert all(e["error"]["message"] for e in failures)

    # A member re-enabled: Ghost removes the address from all three lists (§9).
    removed = e2e.node([
        {"op": "removeSuppression", "type": "bounces", "email": address},
        {"op": "suppressions", "method": "get", "type": "bounces", "args": [address]},
    ])
    assert removed[0]["ok"] and removed[0]["removed"], removed[0]
    assert removed[0]["response"]["message"] == "Bounced address has been removed"
    assert removed[0]["response"]["address"] == address
    assert removed[1]["ok"] is False and removed[1]["error"]["status"] == 404
    assert removed[1]["error"]["details"] == "Address not found in bounces table"

    assert e2e.ghost_send([address], email_id=ghost_email_id())["ok"]
    e2e.wait_events("failed", 3, recipient=address)
    assert failed_codes(e2e, address) == [550, 605, 550]  # bounces again from the simulator, not 605


def test_complaint_then_607_then_ghost_removes_the_complaint(e2e):
    begin = window()
    address = f"complaint+x@{SIMULATOR}"
    email_id = ghost_email_id()

    assert e2e.ghost_send([address], email_id=email_id)["ok"]
    complained = e2e.wait_events("complained", 1, recipient=address)[0]
    assert complained["user-variables"]["email-id"] == email_id
    assert {"ghost-email", "bulk-email"} <= set(complained["tags"])  # §11.13
    assert complained["message"]["headers"]["message-id"] == recipient_message_id(email_id, address)
    e2e.wait_events("delivered", 1, recipient=address)

    fetched = e2e.ghost_fetch(begin, round(time.time() + 1, 3))
    assert fetched["ok"], fetched.get("error")
    assert sorted(e["type"] for batch in fetched["batches"] for e in batch) == ["complained", "delivered"]

    assert e2e.ghost_send([address], email_id=ghost_email_id())["ok"]
    dropped = e2e.wait_events("failed", 1, recipient=address)[0]
    assert dropped["delivery-status"]["code"] == 607 and dropped["reason"] == "suppress-complaint"
    assert dropped["severity"] == "permanent"

    removed = e2e.node([{"op": "removeSuppression", "type": "complaints", "email": address}])[0]
    assert removed["ok"] and removed["removed"], removed
    assert removed["response"]["message"] == "Spam complaint has been removed"

    assert e2e.ghost_send([address], email_id=ghost_email_id())["ok"]
    e2e.wait_events("delivered", 2, recipient=address)
    assert failed_codes(e2e, address) == [607]


def test_unsubscribe_606_then_ghost_removes_the_unsubscribe(e2e):
    address = "reader+news@example.com"
    created = e2e.node([
        {"op": "suppressions", "method": "create", "type": "unsubscribes",
         "args": [{"address": address, "tag": "*"}]},
        {"op": "suppressions", "method": "get", "type": "unsubscribes", "args": [address]},
    ])
    assert created[0]["ok"], created[0]
    assert created[1]["ok"] and created[1]["response"]["address"] == address, created[1]
    assert created[1]["response"]["tags"] == ["*"]

    assert e2e.ghost_send([address], email_id=ghost_email_id())["ok"]
    dropped = e2e.wait_events("failed", 1, recipient=address)[0]
    assert dropped["delivery-status"]["code"] == 606 and dropped["reason"] == "suppress-unsubscribe"

    removed = e2e.node([{"op": "removeSuppression", "type": "unsubscribes", "email": address}])[0]
    assert removed["ok"] and removed["removed"], removed
    assert removed["response"]["message"] == "Unsubscribe event has been removed"

    assert e2e.ghost_send([address], email_id=ghost_email_id())["ok"]
    e2e.wait_events("delivered", 1, recipient=address)
    assert failed_codes(e2e, address) == [606]


def test_mailgun_js_bounce_create_get_destroy_with_plus_address(e2e):
    address = "someone+tag@example.com"
    results = e2e.node([
        {"op": "suppressions", "method": "create", "type": "bounces",
         "args": [{"address": address, "code": 550, "error": "No such mailbox"}]},
        {"op": "suppressions", "method": "get", "type": "bounces", "args": [address]},
        {"op": "suppressions", "method": "list", "type": "bounces", "args": [{"limit": 10}]},
        {"op": "suppressions", "method": "destroy", "type": "bounces", "args": [address]},
        {"op": "suppressions", "method": "destroy", "type": "bounces", "args": [address]},
    ])
    created, got, listed, destroyed, again = results
    assert created["ok"] and created["response"]["message"] == "1 addresses have been added to the bounces table"
    assert got["ok"], got
    assert got["response"]["address"] == address and got["response"]["code"] == 550
    assert got["response"]["error"] == "No such mailbox"
    assert listed["ok"] and [item["address"] for item in listed["response"]["items"]] == [address]
    assert destroyed["ok"] and destroyed["response"]["address"] == address
    assert again["ok"] is False and again["error"]["status"] == 404  # Ghost catches it (§4.1)


# -- retries of the same batch ----------------------------------------------------------------------


def test_same_ghost_batch_posted_twice_is_sent_once(e2e):
    recipients = [f"retry{i}@example.com" for i in range(50)] + ["retry+plus@example.com"]
    templated_email = ghost_email_id()
    plain_email = ghost_email_id()
    call = ghost_send_call(recipients, email_id=templated_email)
    plain_call = ghost_send_call(["plain-retry@example.com"], email_id=plain_email, per_recipient_id=False)

    first, first_plain = e2e.node([call, plain_call])
    # Ghost retries a batch whose answer it did not get: identical content, before and after delivery.
    second, second_plain = e2e.node([call, plain_call])
    e2e.wait_events("delivered", len(recipients) + 1)
    third, third_plain = e2e.node([call, plain_call])
    time.sleep(3)  # room for anything a re-POST might (wrongly) have queued

    assert first["ok"] and second["ok"] and third["ok"]
    assert first["id"] == second["id"] == third["id"] == "<%recipient.message_id%>"
    assert first_plain["ok"] and MAILGUN_ID.match(first_plain["id"])
    assert first_plain["id"] == second_plain["id"] == third_plain["id"]
    assert e2e.count_batches() == 2
    per_address = collections.Counter(m.to for m in e2e.emls())
    assert per_address == collections.Counter(recipients + ["plain-retry@example.com"])
    delivered = collections.Counter(e["recipient"] for e in e2e.events_of("delivered"))
    assert delivered == per_address
    accepted = collections.Counter(e["recipient"] for e in e2e.events_of("accepted"))
    assert accepted == per_address


# -- scheduling and test mode ------------------------------------------------------------------------


def test_deliverytime_holds_the_batch_until_its_time(e2e):
    deliver_at = math.ceil(time.time()) + 5  # toUTCString has whole seconds
    recipients = ["later1@example.com", "later2+x@example.com"]
    call = ghost_send_call(recipients, email_id=ghost_email_id(),
                           delivery_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(deliver_at)))

    sent = e2e.node([call])[0]

    assert sent["ok"], sent.get("error")
    time.sleep(1)
    early = e2e.events_of("delivered") or e2e.emls()
    # Looked before the delivery time (starting node on a loaded machine may take until after it)?
    assert not (early and time.time() < deliver_at), "delivered before its delivery time"

    delivered = e2e.wait_events("delivered", 2, timeout=60)
    assert all(event["timestamp"] >= deliver_at for event in delivered)
    assert sorted(m.to for m in e2e.emls()) == sorted(recipients)


def test_scheduled_batch_is_accepted_at_once(e2e):
    """§2.6: "The accepted event is written at once; delivery and its events happen at the
    scheduled time." """
    deliver_at = math.ceil(time.time()) + 30
    recipients = ["sched1@example.com", "sched2+x@example.com"]
    call = ghost_send_call(recipients, email_id=ghost_email_id(),
                           delivery_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(deliver_at)))

    sent = e2e.node([call])[0]

    assert sent["ok"], sent.get("error")
    accepted = e2e.wait_for(lambda: len(e2e.events_of("accepted")) >= 2 and e2e.events_of("accepted"),
                            timeout=30, what="accepted events of the scheduled batch")
    assert sorted(e["recipient"] for e in accepted) == sorted(recipients)
    assert all(e["timestamp"] < deliver_at - 15 for e in accepted)
    assert e2e.events_of("delivered") == []


def test_testmode_writes_no_mail_and_reports_650(e2e):
    recipients = ["tester1@example.com", "tester2+t@example.com"]
    sent = e2e.node([ghost_send_call(recipients, email_id=ghost_email_id(), testmode=True)])[0]
    assert sent["ok"], sent.get("error")

    delivered = e2e.wait_events("delivered", 2)

    assert sorted(e["recipient"] for e in delivered) == sorted(recipients)
    for event in delivered:
        assert event["delivery-status"]["code"] == 650
        assert event["flags"]["is-test-mode"] is True
    time.sleep(1)
    assert e2e.emls() == []


# -- bad input ----------------------------------------------------------------------------------------


GOOD = {"from": "My Blog <noreply@mg.example.com>", "to": ["x@example.com"], "subject": "s", "text": "t"}


def without(*keys: str, **extra) -> dict:
    data = {k: v for k, v in GOOD.items() if k not in keys}
    data.update(extra)
    return data


BAD_SENDS = [
    ("missing from", without("from"), 400, r"^'?from'? parameter is missing$"),
    ("missing to", without("to"), 400, r"^'?to'? parameter is missing$"),
    ("missing text and html", without("text"), 400,
     r"^Need at least one of 'text' or 'html' parameters specified$"),
    ("recipient-variables not JSON", without(**{"recipient-variables": "{not json"}), 400,
     r"^'recipient-variables' parameter is not a valid JSON$"),
    ("bad deliverytime", without(**{"o:deliverytime": "next tuesday"}), 400,
     r"(is not an RFC-2822 compliant date|invalid delivery time format)"),
    ("too many recipients", without(to=[f"r{i}@example.com" for i in range(1001)]), 400,
     r"^Too many recipients, max is 1000$"),
]


def test_bad_sends_through_mailgun_js_are_refused_and_nothing_is_stored(e2e):
    calls = [{"op": "create", "data": data} for _, data, _, _ in BAD_SENDS]
    calls.append({"op": "create", "data": GOOD, "key": "key-wrong"})
    calls.append({"op": "create", "data": GOOD, "domain": "unknown.example.com"})

    results = e2e.node(calls)

    for (name, _, status, pattern), result in zip(BAD_SENDS, results):
        assert result["ok"] is False, name
        error = result["error"]
        assert error["status"] == status, (name, error)
        assert error["message"] == "Bad Request", (name, error)  # the HTTP reason phrase (§1.4)
        assert isinstance(error["details"], str) and re.search(pattern, error["details"]), (name, error)
    wrong_key, unknown_domain = results[-2:]
    assert wrong_key["ok"] is False
    assert wrong_key["error"]["status"] == 401
    assert wrong_key["error"]["message"] == "Unauthorized"
    assert wrong_key["error"]["details"] == "Forbidden"
    assert unknown_domain["ok"] is False
    assert unknown_domain["error"]["status"] == 404
    assert unknown_domain["error"]["message"] == "Not Found"
    assert unknown_domain["error"]["details"] == "Domain not found: unknown.example.com"

    time.sleep(1)
    assert e2e.count_batches() == 0
    assert e2e.stored_events() == []
    assert e2e.emls() == []


def test_ghost_send_with_a_wrong_key_is_unauthorized_forbidden(e2e):
    """What Ghost records on the batch: ``Unauthorized: Forbidden`` (§1.2)."""
    result = e2e.node([ghost_send_call(["x@example.com"], email_id=ghost_email_id())], key="key-nope")[0]

    assert result["ok"] is False
    assert (result["error"]["status"], result["error"]["message"], result["error"]["details"]) == (
        401, "Unauthorized", "Forbidden")
    assert e2e.count_batches() == 0


def test_ghost_events_with_undefined_begin_is_a_400_not_a_crash(e2e):
    """§3.4.5: mailgun.js 10.4.0 sends ``begin=undefined`` for an unset option."""
    result = e2e.node([{"op": "eventsGet", "query": {"begin": "undefined", "ascending": "yes", "limit": 10}}])[0]

    assert result["ok"] is False
    assert result["error"]["status"] == 400
    assert result["error"]["message"] == "Bad Request"
    assert "begin" in str(result["error"]["details"])


def test_events_tag_filter_separates_newsletters_from_automations(e2e):
    begin = window()
    newsletter = ["tagged@example.com"]
    automation = ["automated@example.com"]
    results = e2e.node([
        ghost_send_call(newsletter, email_id=ghost_email_id()),
        ghost_send_call(automation, email_id=ghost_email_id(), tags=("automation-email",)),
    ])
    assert all(r["ok"] for r in results)
    e2e.wait_events("delivered", 2)

    bulk = e2e.ghost_fetch(begin, round(time.time() + 1, 3))
    auto = e2e.ghost_fetch(begin, round(time.time() + 1, 3), tags="automation-email")

    assert bulk["ok"] and auto["ok"], (bulk.get("error"), auto.get("error"))
    assert [e["recipientEmail"] for b in bulk["batches"] for e in b] == newsletter
    assert [e["recipientEmail"] for b in auto["batches"] for e in b] == automation


def test_domain_warming_keeps_events_and_suppressions_per_domain(live_server):
    """§9/§11.24: Ghost sends through a fallback domain too and polls events for both."""
    fallback = "fallback.example.com"
    e2e = Harness(live_server(domains={fallback: {"api_key": "key-test"}}))
    begin = window()
    primary_email, fallback_email = ghost_email_id(), ghost_email_id()
    bounced = f"bounce+warm@{SIMULATOR}"

    results = e2e.node([ghost_send_call(["prim@example.com", bounced], email_id=primary_email)])
    results += e2e.node([ghost_send_call(["fall@example.com"], email_id=fallback_email)], domain=fallback)
    assert all(r["ok"] for r in results), results
    e2e.wait_events("delivered", 1)
    e2e.wait_events("failed", 1)
    e2e.wait_events("delivered", 1, domain=fallback)

    primary = e2e.ghost_fetch(begin, round(time.time() + 1, 3))
    secondary = e2e.ghost_fetch(begin, round(time.time() + 1, 3), domain=fallback)

    assert primary["ok"] and secondary["ok"], (primary.get("error"), secondary.get("error"))
    assert sorted(e["recipientEmail"] for b in primary["batches"] for e in b) == sorted(["prim@example.com", bounced])
    assert [e["recipientEmail"] for b in secondary["batches"] for e in b] == ["fall@example.com"]
    assert [e["providerId"] for b in secondary["batches"] for e in b] == [
        recipient_message_id(fallback_email, "fall@example.com", fallback)]
    lookups = e2e.node([{"op": "suppressions", "method": "get", "type": "bounces", "args": [bounced]},
                        {"op": "suppressions", "method": "get", "type": "bounces", "args": [bounced],
                         "domain": fallback}])
    assert lookups[0]["ok"] and lookups[0]["response"]["address"] == bounced
    assert lookups[1]["ok"] is False and lookups[1]["error"]["status"] == 404
