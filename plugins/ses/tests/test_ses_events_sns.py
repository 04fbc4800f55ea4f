"""``POST /ses/sns``: SNS HTTPS push, with moto's real signatures and with a test key."""

from __future__ import annotations

import base64
import json
import logging
import urllib.request
from typing import Any

import pytest_asyncio

from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, basic_auth
from postgate.web import create_app
from postgate_ses.sns import SnsFetcher, SnsRejected, sns_blueprint
from postgate_ses.testing import FakeFetcher, SnsSigner, iso, sent_rows, ses_record, wire_topic

SNS_LOGGER = "postgate.ses.sns"
TEXT = {"Content-Type": "text/plain; charset=UTF-8"}


class CountingFetcher:
    """Wraps a fetcher and records every certificate and confirmation fetch."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.certificates: list[str] = []
        self.confirmed: list[str] = []

    def certificate(self, url: str) -> bytes:
        self.certificates.append(url)
        return self.inner.certificate(url)

    def confirm(self, url: str) -> None:
        self.confirmed.append(url)
        self.inner.confirm(url)


class Push:
    def __init__(self, gateway: Any, client: Any, fetcher: Any) -> None:
        self.gateway, self.client, self.fetcher = gateway, client, fetcher

    async def post(self, document: Any, status: int) -> Any:
        data = document if isinstance(document, (bytes, str)) else json.dumps(document)
        response = await self.client.post("/ses/sns", data=data, headers=TEXT)
        body = await response.get_json()
        assert response.status_code == status, body
        return body

    async def events(self) -> list[dict[str, Any]]:
        response = await self.client.get(f"/v3/{TEST_DOMAIN}/events?limit=300", headers=basic_auth())
        return (await response.get_json())["items"]


@pytest_asyncio.fixture
async def make_push(aws, gateway_factory):
    contexts = []

    async def make(topics: list[str], fetcher: Any) -> Push:
        gateway = gateway_factory(load_entrypoints=True, load_plugins=["ses"],
                                  plugin_settings={"ses": {"endpoint_url": aws.url, "sns_topic_arns": topics}})
        app = create_app(gateway, background=False)
        app.register_blueprint(sns_blueprint(gateway, fetcher=fetcher))
        context = app.test_app()
        test_app = await context.__aenter__()
        contexts.append(context)
        return Push(gateway, test_app.test_client(), fetcher)

    yield make
    for context in reversed(contexts):
        await context.__aexit__(None, None, None)


def moto_envelope(aws, topic_name: str, record: dict[str, Any]) -> dict[str, Any]:
    """A genuine moto-signed SNS envelope, taken off an SQS queue subscribed to the topic."""
    topic, queue = wire_topic(aws, topic_name)
    aws.client("sns").publish(TopicArn=topic, Message=json.dumps(record))
    message, = aws.client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=2)["Messages"]
    return json.loads(message["Body"])


# -- moto's real signatures --------------------------------------------------------------------


def test_moto_pushes_signed_notifications_that_are_stored_once(aws, live_server, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    sns = aws.client("sns")
    topic = sns.create_topic(Name="postgate-ses-events")["TopicArn"]
    server = live_server(load_entrypoints=True, load_plugins=["ses"], background=False, plugin_settings={
        "ses": {"endpoint_url": aws.url, "sns_endpoint": True, "sns_topic_arns": [topic]}})
    (row, ses_id), = server.run(sent_rows(server.gateway, aws, ["pushed@example.com"]))
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"{server.url}/ses/sns")
    record = ses_record("Delivery", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id)
    sns.publish(TopicArn=topic, Message=json.dumps(record))  # moto POSTs inside Publish
    sns.publish(TopicArn=topic, Message=json.dumps(record))  # the same SES event again
    sns.publish(TopicArn=topic, Message=json.dumps(
        ses_record("Open", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id)))
    request = urllib.request.Request(f"{server.url}/v3/{TEST_DOMAIN}/events?limit=300", headers={
        "Authorization": "Basic " + base64.b64encode(f"api:{TEST_KEY}".encode()).decode()})
    with urllib.request.urlopen(request, timeout=10) as response:
        items = json.loads(response.read())["items"]
    assert sorted(i["event"] for i in items) == ["delivered", "opened"]
    for item in items:
        assert item["message"]["headers"]["message-id"] == row.message_id
        assert item["user-variables"]["email-id"] == "6740a1b2c3d4e5f6a7b8c9d0"
        assert item["tags"] == ["ghost-email", "bulk-email"]
    assert not [r for r in caplog.records if "refused" in r.getMessage()]


async def test_genuine_envelope_accepted_and_forgeries_refused(aws, make_push, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    topic = aws.client("sns").create_topic(Name="postgate-ses-events")["TopicArn"]
    push = await make_push([topic], CountingFetcher(SnsFetcher(aws.url)))
    (row, ses_id), = await sent_rows(push.gateway, aws, ["x@example.com"])
    genuine = moto_envelope(aws, "postgate-ses-events",
                            ses_record("Bounce", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id))
    assert genuine["SignatureVersion"] == "2"

    forged_message = dict(genuine, Message=genuine["Message"].replace("Permanent", "Transient"))
    await push.post(forged_message, 403)
    unsigned = {k: v for k, v in genuine.items() if k not in ("Signature", "SignatureVersion")}
    await push.post(unsigned, 403)
    await push.post(dict(genuine, SignatureVersion="3"), 403)
    await push.post(dict(genuine, Signature="not base64!"), 403)
    other_key = SnsSigner(genuine["SigningCertURL"])
    await push.post(other_key.sign(dict(genuine), "2"), 403)  # signed, but not by the cert at the URL
    assert await push.events() == []

    fetched = len(push.fetcher.certificates)
    for url in ("https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-x.pem",
                "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
                "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem"):  # not the topic's region
        await push.post(dict(genuine, SigningCertURL=url), 403)
    other = moto_envelope(aws, "someone-elses-topic", ses_record("Bounce", ses_id, row.address, rcpt_id=row.id))
    await push.post(other, 403)  # unknown topic: refused before any fetch
    await push.post("not json", 400)
    await push.post({"Type": "Something"}, 400)
    assert len(push.fetcher.certificates) == fetched
    assert await push.events() == []

    await push.post(genuine, 200)
    await push.post(genuine, 200)  # an SNS redelivery
    items = await push.events()
    assert [(i["event"], i["reason"], i["recipient"]) for i in items] == [("failed", "bounce", "x@example.com")]
    assert len(push.fetcher.certificates) == fetched == 1  # certificates are cached by URL

    refused = [r for r in caplog.records if r.name == SNS_LOGGER and "refused (403)" in r.getMessage()]
    assert len(refused) == 9 and all(r.levelno == logging.WARNING for r in refused)
    assert any("bad signature" in r.getMessage() for r in refused)
    assert any("not in sns_topic_arns" in r.getMessage() for r in refused)
    assert any("untrusted SigningCertURL" in r.getMessage() for r in refused)


async def test_an_empty_topic_list_refuses_everything(aws, make_push, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    push = await make_push([], CountingFetcher(SnsFetcher(aws.url)))
    genuine = moto_envelope(aws, "postgate-ses-events", ses_record("Open", "m", "a@example.com"))
    await push.post(genuine, 403)
    assert push.fetcher.certificates == []
    assert any("sns_topic_arns is empty" in r.getMessage() for r in caplog.records)
    assert any("no topics are allowed" in r.getMessage() for r in caplog.records)


# -- a test key: what moto never sends ------------------------------------------------------------

TOPIC = "arn:aws:sns:us-east-1:123456789012:postgate-ses-events"


async def test_subscription_confirmation_is_verified_then_confirmed(make_push, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    signer = SnsSigner()
    push = await make_push([TOPIC], FakeFetcher(signer))
    for version in ("1", "2"):
        confirmation = signer.confirmation(TOPIC, f"confirm-{version}", version)
        await push.post(confirmation, 200)
    assert push.fetcher.confirmed == [signer.confirmation(TOPIC, "x")["SubscribeURL"]] * 2
    assert push.fetcher.certificates == [signer.cert_url]  # fetched once, then cached

    forged = SnsSigner().confirmation(TOPIC, "forged")  # another key, same certificate URL
    await push.post(forged, 403)
    evil_url = "https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription"
    evil = signer.sign(dict(signer.confirmation(TOPIC, "evil"), SubscribeURL=evil_url))
    await push.post(evil, 403)
    stale = signer.sign(dict(signer.confirmation(TOPIC, "stale"), Timestamp=iso(offset=-7200)))
    await push.post(stale, 403)
    assert len(push.fetcher.confirmed) == 2

    await push.post(signer.confirmation(TOPIC, "bye", kind="UnsubscribeConfirmation"), 200)
    assert len(push.fetcher.confirmed) == 2
    assert any("subscription" in r.getMessage() and "removed" in r.getMessage() for r in caplog.records)


async def test_signature_version_1_notifications_are_accepted(aws, make_push):
    signer = SnsSigner()
    push = await make_push([TOPIC], FakeFetcher(signer))
    (row, ses_id), = await sent_rows(push.gateway, aws, ["v1@example.com"])
    record = ses_record("Click", ses_id, row.address, rcpt_id=row.id, batch_id=row.batch_id)
    await push.post(signer.notification(TOPIC, record, "n-1", version="1"), 200)
    await push.post(signer.notification(TOPIC, record, "n-2", version="2"), 200)  # published twice
    items = await push.events()
    assert [(i["event"], i["url"]) for i in items] == [("clicked", "https://news.example.com/2024/05/this-week/")]


async def test_unmatched_push_answers_503_so_sns_retries(aws, make_push, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    signer = SnsSigner()
    push = await make_push([TOPIC], FakeFetcher(signer))
    (row, ses_id), = await sent_rows(push.gateway, aws, ["late@example.com"], commit=False)
    record = ses_record("Delivery", ses_id, row.address, notification=True)  # no tags: by SES id only
    await push.post(signer.notification(TOPIC, record, "n-1"), 503)
    assert await push.events() == []
    assert any("answered 503 so SNS retries" in r.getMessage() and ses_id in r.getMessage() for r in caplog.records)
    await push.gateway.storage.record_provider_ids([(row.id, ses_id)])  # the worker's commit
    await push.post(signer.notification(TOPIC, record, "n-1"), 200)  # SNS's retry
    assert [i["event"] for i in await push.events()] == ["delivered"]


async def test_signed_notifications_that_are_not_ses_events_are_acknowledged(make_push, caplog):
    caplog.set_level(logging.INFO, logger="postgate.ses")
    signer = SnsSigner()
    push = await make_push([TOPIC], FakeFetcher(signer))
    note = signer.sign({"Type": "Notification", "MessageId": "m", "TopicArn": TOPIC, "Message": "hello",
                        "Timestamp": iso()})
    await push.post(note, 200)
    test_message = signer.sign({"Type": "Notification", "MessageId": "m2", "TopicArn": TOPIC, "Timestamp": iso(),
                                "Message": json.dumps({"notificationType": "AmazonSnsSubscriptionSucceeded"})})
    await push.post(test_message, 200)
    assert await push.events() == []
    assert any("not an SES event" in r.getMessage() for r in caplog.records)


async def test_a_confirmation_that_cannot_be_fetched_is_answered_503_for_sns_to_retry(make_push, caplog):
    class Unreachable(FakeFetcher):
        def confirm(self, url: str) -> None:
            raise OSError("connection refused")

    signer = SnsSigner()
    push = await make_push([TOPIC], Unreachable(signer))
    response = await push.client.post("/ses/sns", data=json.dumps(signer.confirmation(TOPIC, "c")), headers=TEXT)
    assert response.status_code == 503 and response.headers["Retry-After"] == "20"
    assert await response.get_json() == {"message": "confirmation failed; retry later"}


async def test_subscription_tokens_never_reach_the_log(make_push, caplog):
    """Whoever holds a SubscribeURL's token can confirm the subscription: refusals and failed
    confirmations log the URL with its token cut out."""
    caplog.set_level(logging.INFO, logger="postgate.ses")

    class Oversized(FakeFetcher):
        def confirm(self, url: str) -> None:
            raise SnsRejected(f"{url} answered more than 1048576 bytes")  # as SnsFetcher says it

    signer = SnsSigner()
    push = await make_push([TOPIC], Oversized(signer))
    confirmation = signer.confirmation(TOPIC, "c")
    token = confirmation["Token"]
    await push.post(confirmation, 503)
    untrusted = "https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription&Token=" + token
    await push.post(signer.sign(dict(signer.confirmation(TOPIC, "u"), SubscribeURL=untrusted)), 403)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "answered more than" in logged and "untrusted SubscribeURL" in logged
    assert logged.count("Token=\u2026") == 2
    assert token not in logged and token[:16] not in logged
