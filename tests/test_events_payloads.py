"""Mailgun event objects built by :mod:`postgate.events` (contract §3.5, what Ghost reads §10)."""

from __future__ import annotations

import json

import pytest

from postgate.domain import Attachment, Batch, Message, Recipient, RecipientStatus
from postgate.events import EventBuilder

DOMAIN = "mg.example.com"
TAGS = ["ghost-email", "bulk-email"]
STANDARD = {"event", "log-level", "recipient", "recipient-domain", "tags", "campaigns", "user-variables", "message"}


def builder(testmode: bool = False, batch_mode: bool = True) -> EventBuilder:
    message = Message(
        domain=DOMAIN, sender="My Blog <noreply@mg.example.com>",
        to=["Alice <Alice@Example.com>", "bob@example.com"],
        subject="Hello %recipient.name%", text="x",
        recipient_variables={} if batch_mode else None,
        variables={"email-id": "6740a1b2c3d4e5f6a7b8c9d0", "uid": "%recipient.uid%"},
        headers=[("X-Mailgun-Variables", '{"extra": 1}')],
        attachments=[Attachment("a.pdf", "application/pdf", b"12345")],
        tags=list(TAGS),
    )
    batch = Batch(id=3, domain=DOMAIN, message_id="20251121050000.0123456789abcdef@mg.example.com",
                  response_id="<%recipient.message_id%>", email_id="6740a1b2c3d4e5f6a7b8c9d0", tags=list(TAGS),
                  content=b"", testmode=testmode, deliver_at=None, created_at=0.0, enqueued=True,
                  accepted_logged=False, recipient_count=2)
    return EventBuilder(batch, message, public_url="https://pg.example.com/")


def alice(attempts: int = 0) -> Recipient:
    return Recipient(id=11, batch_id=3, domain=DOMAIN, address="Alice@Example.com", name="Alice",
                     message_id="6740a1b2c3d4e5f6a7b8c9d0.abc@mg.example.com",
                     variables={"name": "Alice", "uid": 7}, status=RecipientStatus.SENDING, attempts=attempts)


def check_standard(event, kind: str, level: str) -> dict:
    payload = event.payload
    assert STANDARD <= set(payload)
    assert payload["event"] == event.event == kind
    assert payload["log-level"] == level
    assert payload["recipient"] == event.recipient == "Alice@Example.com"
    assert payload["recipient-domain"] == "example.com"
    assert payload["tags"] == event.tags == TAGS
    assert payload["campaigns"] == []
    assert payload["user-variables"] == {"extra": "1", "email-id": "6740a1b2c3d4e5f6a7b8c9d0", "uid": "7"}
    assert payload["message"]["headers"]["message-id"] == event.message_id == alice().message_id
    assert event.email_id == "6740a1b2c3d4e5f6a7b8c9d0"
    assert event.domain == DOMAIN
    json.dumps(payload)  # storable as JSON
    return payload


def check_full_headers(payload: dict, storage: bool = True) -> None:
    headers = payload["message"]["headers"]
    assert headers["to"] == "Alice <Alice@Example.com>"
    assert headers["from"] == "My Blog <noreply@mg.example.com>"
    assert headers["subject"] == "Hello Alice"
    assert payload["envelope"] == {"sender": "noreply@mg.example.com", "transport": "smtp",
                                   "targets": "Alice@Example.com", "sending-ip": "127.0.0.1"}
    assert set(payload["flags"]) == {"is-routed", "is-authenticated", "is-system-test", "is-test-mode"}
    assert payload["message"]["attachments"] == [{"filename": "a.pdf", "content-type": "application/pdf", "size": 5}]
    if not storage:
        assert "storage" not in payload  # only accepted, delivered and failed carry it
        return
    assert payload["storage"] == {"url": "https://pg.example.com/v3/domains/mg.example.com/messages/3-11",
                                  "key": "3-11"}


def test_accepted():
    event = builder().accepted(alice())
    payload = check_standard(event, "accepted", "info")
    check_full_headers(payload)
    assert payload["method"] == "http"
    assert payload["message"]["recipients"] == ["Alice@Example.com"]
    assert event.key == "accepted:11"


def test_delivered_and_test_mode():
    event = builder().delivered(alice(), attempt=2)
    payload = check_standard(event, "delivered", "info")
    check_full_headers(payload)
    status = payload["delivery-status"]
    assert status["code"] == 250 and isinstance(status["code"], int)
    assert status["message"] == "OK" and status["description"] == "" and status["attempt-no"] == 2
    assert payload["flags"]["is-test-mode"] is False
    assert event.key == "delivered:11"
    test = builder(testmode=True).delivered(alice())
    assert test.payload["delivery-status"]["code"] == 650
    assert test.payload["flags"]["is-test-mode"] is True


def test_failed_permanent_bounce():
    event = builder().failed(alice(), permanent=True, code=550, enhanced_code="5.1.1", reason="bounce",
                             message="5.1.1 The email account that you tried to reach does not exist.")
    payload = check_standard(event, "failed", "error")
    check_full_headers(payload)
    assert payload["severity"] == event.severity == "permanent"
    assert payload["reason"] == "bounce"
    status = payload["delivery-status"]
    assert status["code"] == 550 and isinstance(status["code"], int)
    assert status["enhanced-code"] == "5.1.1"
    assert status["message"].startswith("5.1.1")
    assert "retry-seconds" not in status
    assert event.key == "failed:11:1"


def test_failed_temporary_has_retry_seconds():
    event = builder().failed(alice(), permanent=False, code=451, enhanced_code="4.3.0", message="later",
                             attempt=2, retry_seconds=300)
    payload = check_standard(event, "failed", "warn")
    assert payload["severity"] == "temporary"
    assert payload["reason"] == "generic"
    assert payload["delivery-status"]["retry-seconds"] == 300
    assert payload["delivery-status"]["attempt-no"] == 2
    assert event.key == "failed:11:2"


@pytest.mark.parametrize(("code", "reason", "description"), [
    (605, "suppress-bounce", "Not delivering to previously bounced address"),
    (606, "suppress-unsubscribe", "Not delivering to unsubscribed address"),
    (607, "suppress-complaint", "Not delivering to a user who marked your messages as spam"),
])
def test_suppression_drops(code, reason, description):
    event = builder().dropped(alice(), code=code, reason=reason, description=description)
    payload = check_standard(event, "failed", "error")
    assert payload["severity"] == "permanent"
    assert payload["reason"] == reason
    status = payload["delivery-status"]
    assert status["code"] == code and isinstance(status["code"], int)
    assert status["description"] == description
    assert status["message"] == ""
    # A provider's own 605 (the outbox's suppression list) gets the description too.
    provided = builder().failed(alice(), permanent=True, code=code, reason=reason)
    assert provided.payload["delivery-status"]["description"] == description


def test_complained():
    event = builder().complained(alice())
    payload = check_standard(event, "complained", "warn")
    check_full_headers(payload, storage=False)
    assert event.key == "complained:11"


def test_engagement_events_carry_tags_variables_and_only_the_message_id():
    b = builder()
    opened = b.opened(alice(), key="ses:open:1", ip="198.51.100.4", user_agent="Mozilla/5.0")
    payload = check_standard(opened, "opened", "info")
    assert payload["message"] == {"headers": {"message-id": alice().message_id}}
    assert payload["ip"] == "198.51.100.4"
    assert payload["client-info"]["user-agent"] == "Mozilla/5.0"
    assert set(payload["geolocation"]) == {"country", "region", "city"}
    assert opened.key == "ses:open:1"
    clicked = b.clicked(alice(), url="https://blog/post")
    assert check_standard(clicked, "clicked", "info")["url"] == "https://blog/post"
    unsubscribed = b.unsubscribed(alice())
    check_standard(unsubscribed, "unsubscribed", "info")


def test_non_batch_mode_to_lists_every_recipient():
    payload = builder(batch_mode=False).delivered(alice()).payload
    assert payload["message"]["headers"]["to"] == "Alice <Alice@Example.com>, bob@example.com"


def test_to_mailgun_adds_id_and_numeric_timestamp():
    event = builder().delivered(alice())
    event.event_id, event.recorded_at = "abcdefghijklmnopqrstuv", 1763701200123456
    body = event.to_mailgun()
    assert body["id"] == "abcdefghijklmnopqrstuv"
    assert body["timestamp"] == pytest.approx(1763701200.123456)
    assert body["event"] == "delivered"
