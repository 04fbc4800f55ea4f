"""SES event parsing and the SNS checks that need no AWS: bodies, SMTP details, opt-outs, URLs."""

from __future__ import annotations

import json

import pytest

from postgate_ses.mapping import (
    MalformedRecord,
    event_key,
    opted_out,
    parse_body,
    smtp_details,
)
from postgate_ses.safejson import UnsafeJson, load_json
from postgate_ses.sns import sns_host_region, string_to_sign, trusted_sns_url
from postgate_ses.testing import ses_record

TOPIC = "arn:aws:sns:us-east-1:123456789012:postgate-ses-events"


def envelope(record, **extra):
    return {"Type": "Notification", "MessageId": "0b6c1f2e-7d7a-5c3e-9c55-1a2b3c4d5e6f", "TopicArn": TOPIC,
            "Message": json.dumps(record), "Timestamp": "2024-05-06T09:00:03.512Z", "SignatureVersion": "1",
            "Signature": "x", "SigningCertURL": "https://sns.us-east-1.amazonaws.com/a.pem", **extra}


def test_envelope_raw_and_notification_bodies_parse_to_the_same_record():
    record = ses_record("Bounce", "ses-1", "gone@example.com", rcpt_id=8, batch_id=3)
    from_envelope = parse_body(json.dumps(envelope(record)))
    from_raw = parse_body(json.dumps(record))
    assert from_envelope.kind == from_raw.kind == "Bounce"
    assert from_envelope.record == from_raw.record == record
    assert from_envelope.sns_message_id == "0b6c1f2e-7d7a-5c3e-9c55-1a2b3c4d5e6f" and from_raw.sns_message_id is None
    assert from_envelope.topic_arn == TOPIC
    assert from_raw.rcpt_id == 8 and from_raw.batch_tag == 3 and from_raw.ses_message_id == "ses-1"
    old = parse_body(json.dumps(ses_record("Bounce", "ses-1", "gone@example.com", notification=True)))
    assert old.kind == "Bounce" and old.rcpt_id is None and old.tag("pg_batch") is None
    # moto's toy identity notifications carry Message as an object, not a string
    assert parse_body(json.dumps(envelope(record) | {"Message": record})).record == record


def test_rendering_failure_uses_the_failure_object_and_bytes_are_accepted():
    record = ses_record("Rendering Failure", "ses-2", "r@example.com", rcpt_id=1)
    parsed = parse_body(json.dumps(record).encode())
    assert parsed.detail["templateName"] == "postgate-inline"
    assert parsed.timestamp == record["mail"]["timestamp"]  # no timestamp of its own


@pytest.mark.parametrize("body", [
    "not json", "[]", "{}", json.dumps({"eventType": "Delivery"}), json.dumps({"eventType": "Delivery", "mail": {}}),
    json.dumps({"Type": "Notification", "TopicArn": TOPIC, "Message": "nope"}),
    json.dumps({"Type": "Weird", "TopicArn": TOPIC, "Message": "{}"}),
])
def test_malformed_bodies_are_refused(body):
    with pytest.raises(MalformedRecord):
        parse_body(body)


def test_messages_without_an_ses_event_are_recognised():
    assert parse_body(json.dumps({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "x"})) is None
    assert parse_body(json.dumps({"Type": "SubscriptionConfirmation", "TopicArn": TOPIC, "Message": "x"})) is None


def test_pg_rcpt_tag_forms():
    for value, expected in (("42", 42), ("b20240506a-0007", 7), ("abc", None)):
        record = ses_record("Open", "ses", "a@example.com")
        record["mail"]["tags"]["pg_rcpt"] = [value]
        assert parse_body(json.dumps(record)).rcpt_id == expected


def test_smtp_details():
    assert smtp_details("smtp; 550 5.1.1 user unknown", "5.1.1") == (550, "5.1.1", "550 5.1.1 user unknown")
    assert smtp_details("smtp; 452 4.2.2 mailbox full", None) == (452, "4.2.2", "452 4.2.2 mailbox full")
    assert smtp_details(None, "5.7.1") == (None, "5.7.1", "")
    assert smtp_details("Amazon SES did not send the message", "") == (None, "", "Amazon SES did not send the message")


def test_opt_outs():
    record = ses_record("Subscription", "s", "a@example.com")
    assert opted_out(record["subscription"])
    opt_in = {"newTopicPreferences": {"unsubscribeAll": False, "topicSubscriptionStatus": [
        {"topicName": "weekly", "subscriptionStatus": "OptIn"}]}}
    assert not opted_out(opt_in)
    w_out = {"topicName": "w", "subscriptionStatus": "OptOut"}
    d_out = {"topicName": "d", "subscriptionStatus": "OptOut"}
    still_out = {"newTopicPreferences": {"topicSubscriptionStatus": [w_out]},
                 "oldTopicPreferences": {"topicSubscriptionStatus": [w_out, d_out]}}
    assert not opted_out(still_out)  # an opt-in elsewhere, no new opt-out
    assert opted_out({"newTopicPreferences": {"topicSubscriptionStatus": [w_out]}})


def test_event_keys_ignore_transport_and_address_case():
    assert event_key("Open", "m", "t", "A@Example.com") == event_key("Open", "m", "t", "a@example.com")
    assert event_key("Open", "m", "t", "a@example.com") != event_key("Open", "m", "t2", "a@example.com")
    assert event_key("Open", "m", "t", "a@example.com").startswith("ses:")


@pytest.mark.parametrize("url,region", [
    ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", "us-east-1"),
    ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", "cn-north-1"),
    ("https://SNS.US-EAST-1.AMAZONAWS.COM/SimpleNotificationService-abc.pem", "us-east-1"),  # case-insensitive
    ("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", None),
    ("https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-abc.pem", None),
    ("https://evil.example/sns.us-east-1.amazonaws.com/x.pem", None),
    ("https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-abc.pem", None),
    ("https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", None),
    ("https://sns.us-east-1.amazonaws.com@evil.example/x.pem", None),
    ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.txt", None),
    ("https://xsns.us-east-1.amazonaws.com/a.pem", None),
    ("https://sns.us-east-1.amazonaws.com:/a.pem", None),
    ("not a url", None),
])
def test_certificate_url_host_check(url, region):
    assert sns_host_region(url, pem=True) == region


def test_subscribe_url_needs_no_pem_path():
    assert trusted_sns_url("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=x")
    assert not trusted_sns_url("https://sns.eu-west-1.amazonaws.com.evil.example/?Action=ConfirmSubscription")


def test_string_to_sign_follows_the_documented_key_order():
    doc = envelope({"eventType": "Open"}, Subject="s")
    assert string_to_sign(doc) == (
        f"Message\n{doc['Message']}\nMessageId\n{doc['MessageId']}\nSubject\ns\n"
        f"Timestamp\n{doc['Timestamp']}\nTopicArn\n{TOPIC}\nType\nNotification\n"
    ).encode()
    confirm = {"Type": "SubscriptionConfirmation", "Message": "m", "MessageId": "i", "SubscribeURL": "u",
               "Timestamp": "t", "Token": "k", "TopicArn": TOPIC, "Signature": "x"}
    assert string_to_sign(confirm) == (
        f"Message\nm\nMessageId\ni\nSubscribeURL\nu\nTimestamp\nt\nToken\nk\nTopicArn\n{TOPIC}\n"
        "Type\nSubscriptionConfirmation\n"
    ).encode()


def test_sns_timestamps_and_subscribe_urls():
    from datetime import datetime, timezone

    from postgate_ses.sns import parse_timestamp, subscribe_url_problem

    assert parse_timestamp("2024-05-06T09:00:03.512Z") == datetime(2024, 5, 6, 9, 0, 3, 512000, tzinfo=timezone.utc)
    assert parse_timestamp("2024-05-06T09:00:03Z") == datetime(2024, 5, 6, 9, 0, 3, tzinfo=timezone.utc)
    for bad in ("2024-05-06T09:00:03", "2024-05-06T09:00:03+01:00", "٢٠٢٤-05-06T09:00:03Z", "2024-02-30T00:00:00Z",
                "2024-05-06 09:00:03Z", "", "2024-05-06T09:00:03.Z"):
        assert parse_timestamp(bad) is None, bad
    good = f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=abc"
    assert subscribe_url_problem(good, TOPIC) is None
    assert "region" in subscribe_url_problem(good.replace("us-east-1.amazonaws", "eu-west-1.amazonaws"), TOPIC)
    assert "untrusted" in subscribe_url_problem(good.replace("https:", "http:"), TOPIC)
    assert "untrusted" in subscribe_url_problem(good.replace(".com/", ".com.evil.example/"), TOPIC)
    assert "this topic" in subscribe_url_problem(good.replace("ConfirmSubscription", "Unsubscribe"), TOPIC)
    assert "this topic" in subscribe_url_problem(good.replace(TOPIC, TOPIC + "-other"), TOPIC)


def test_certificate_urls_have_sns_shape():
    base = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
    assert sns_host_region(base, pem=True) == "us-east-1"
    assert sns_host_region(base.replace("us-east-1.amazonaws.com", "cn-north-1.amazonaws.com.cn"), pem=True) == "cn-north-1"
    for bad in (base + "?x=1", base + "#f", base.replace("SimpleNotificationService-", ""),
                base.replace("/Simple", "/a/Simple"), base.replace(".pem", ".pem/"), base.replace("https://", "https://u@"),
                base.replace(".com/", ".com:443/")):
        assert sns_host_region(bad, pem=True) is None, bad


@pytest.mark.parametrize("text, refused", [
    ('{"a": "\\ud800"}', True),  # a lone high surrogate escape
    ('{"a": "\\uDC00x"}', True),  # a lone low one, upper case
    ('{"a": "\ud800"}', True),  # a lone surrogate in the text itself (a str from a JSON response)
    ('{"a": "é\udfff"}', True),
    ('{"a": "\\ud83d\\ude00"}', False),  # a pair: one emoji
    ('{"a": "\\\\ud800"}', False),  # an escaped backslash, then plain text
    ('{"a": "é \\u00e9"}', False),
    ('{"a": "plain"}', False),
])
def test_lone_surrogates_are_refused_and_pairs_kept(text, refused):
    if refused:
        with pytest.raises(UnsafeJson, match="surrogate"):
            load_json(text)
    else:
        assert load_json(text) == json.loads(text)
