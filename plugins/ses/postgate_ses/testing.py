"""Test helpers for SES events: realistic records (contract §2.5), moto wiring, an SNS signer.

moto never emits SES events (contract §5.4), so tests build the records themselves around the
``MessageId`` of a real ``sesv2.send_email`` to moto and publish them to an SNS topic, which moto
fans out to SQS (envelope or raw) or signs and POSTs to an HTTP endpoint. :class:`SnsSigner`
signs SNS documents with its own key and a self-signed certificate, for what moto cannot send
(``SubscriptionConfirmation``, ``SignatureVersion`` 1).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import time
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
CERT_URL = f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"


def iso(moment: dt.datetime | None = None, offset: float = 0.0) -> str:
    moment = (moment or dt.datetime.now(dt.timezone.utc)) + dt.timedelta(seconds=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ses_record(kind: str, ses_message_id: str, address: str, *, rcpt_id: int | None = None,
               batch_id: int | None = None, notification: bool = False, offset: float = 5.0,
               **detail: Any) -> dict[str, Any]:
    """An SES event record of type ``kind`` for one recipient, shaped like the AWS examples.

    ``rcpt_id``/``batch_id`` become the ``pg_rcpt``/``pg_batch`` EmailTags; ``notification=True``
    builds an identity notification (``notificationType``, no tags). Keyword arguments override
    fields of the per-event object (``bounceType="Transient"``, ``link=…``).
    """
    sent = iso(offset=-10)
    at = iso(offset=offset)
    tags: dict[str, list[str]] = {
        "ses:operation": ["SendEmail"],
        "ses:configuration-set": ["postgate"],
        "ses:source-ip": ["192.0.2.10"],
        "ses:from-domain": ["mg.example.com"],
        "ses:caller-identity": ["postgate-worker"],
    }
    if batch_id is not None:
        tags["pg_batch"] = [str(batch_id)]
    if rcpt_id is not None:
        tags["pg_rcpt"] = [str(rcpt_id)]
    mail: dict[str, Any] = {
        "timestamp": sent,
        "source": "Example News <noreply@mg.example.com>",
        "sourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/mg.example.com",
        "sendingAccountId": ACCOUNT,
        "messageId": ses_message_id,
        "destination": [address],
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": "Example News <noreply@mg.example.com>"},
            {"name": "To", "value": address},
            {"name": "Subject", "value": "This week at Example"},
        ],
        "commonHeaders": {"from": ["Example News <noreply@mg.example.com>"], "to": [address],
                          "messageId": ses_message_id, "subject": "This week at Example"},
    }
    if notification:
        mail.pop("headers")
        mail.pop("commonHeaders")
        mail.update({"sourceIp": "192.0.2.10", "callerIdentity": "postgate-worker"})
    else:
        mail["tags"] = tags
    objects: dict[str, tuple[str, dict[str, Any]]] = {
        "Send": ("send", {}),
        "Delivery": ("delivery", {
            "timestamp": at, "processingTimeMillis": 2748, "recipients": [address],
            "smtpResponse": "250 2.0.0 OK  1715000002 x12si123456qkb.1 - gsmtp",
            "remoteMtaIp": "203.0.113.25", "reportingMTA": "a8-70.smtp-out.amazonses.com",
        }),
        "Bounce": ("bounce", {
            "bounceType": "Permanent", "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": address, "action": "failed", "status": "5.1.1",
                                   "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
            "timestamp": at, "feedbackId": f"fb-{ses_message_id}-{at}",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        }),
        "Complaint": ("complaint", {
            "complainedRecipients": [{"emailAddress": address}], "timestamp": at,
            "feedbackId": f"fb-{ses_message_id}", "userAgent": "ExampleISP Feedback Loop (V0.01)",
            "complaintFeedbackType": "abuse", "arrivalDate": at,
        }),
        "Reject": ("reject", {"reason": "Bad content"}),
        "Open": ("open", {
            "ipAddress": "192.0.2.1", "timestamp": at,
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15",
        }),
        "Click": ("click", {
            "ipAddress": "192.0.2.1", "link": "https://news.example.com/2024/05/this-week/",
            "linkTags": {"section": ["lead-story"]}, "timestamp": at,
            "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0",
        }),
        "Rendering Failure": ("failure", {
            "errorMessage": "Attribute 'first_name' is not present in the rendering data.",
            "templateName": "postgate-inline",
        }),
        "DeliveryDelay": ("deliveryDelay", {
            "timestamp": at, "delayType": "TransientCommunicationFailure", "expirationTime": iso(offset=50000),
            "delayedRecipients": [{"emailAddress": address, "status": "4.4.1",
                                   "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host"}],
        }),
        "Subscription": ("subscription", {
            "contactList": "newsletter", "timestamp": at, "source": "UnsubscribeHeader",
            "newTopicPreferences": {"unsubscribeAll": True, "topicSubscriptionStatus": [
                {"topicName": "weekly", "subscriptionStatus": "OptOut"}]},
            "oldTopicPreferences": {"unsubscribeAll": False, "topicSubscriptionStatus": [
                {"topicName": "weekly", "subscriptionStatus": "OptIn"}]},
        }),
    }
    key, obj = objects[kind]
    obj = copy.deepcopy(obj)
    obj.update(detail)
    record: dict[str, Any] = {"notificationType" if notification else "eventType": kind, "mail": mail}
    record[key] = obj
    return record


def wire_topic(aws: Any, name: str = "postgate-ses-events", *, raw: bool = False) -> tuple[str, str]:
    """An SNS topic and an SQS queue subscribed to it (``raw``: RawMessageDelivery); their ARN/URL."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=f"{name}-{'raw' if raw else 'envelope'}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"RawMessageDelivery": "true"} if raw else {}
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return topic, queue


def queue_depth(aws: Any, queue_url: str) -> int:
    """Visible plus in-flight messages of a queue.

    moto reads the clock once per attribute, so a message whose visibility timeout ends between
    the two reads is in neither count. A zero is therefore read a second time, a moment later:
    by then such a message is visible and counted.
    """
    sqs = aws.client("sqs")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    for attempt in range(2):
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
        depth = sum(int(attributes[name]) for name in names)
        if depth or attempt:
            return depth
        time.sleep(0.02)
    return depth


class SnsSigner:
    """An RSA key and a self-signed ``sns.amazonaws.com`` certificate that sign SNS documents."""

    def __init__(self, cert_url: str = CERT_URL) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.cert_url = cert_url
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                .sign(self.key, hashes.SHA256()))
        self.pem = cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, envelope: dict[str, Any], version: str = "2") -> dict[str, Any]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        from .sns import string_to_sign

        envelope = dict(envelope, SignatureVersion=version,
                        SigningCertURL=envelope.get("SigningCertURL", self.cert_url))
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(envelope), padding.PKCS1v15(), algorithm)
        envelope["Signature"] = base64.b64encode(signature).decode("ascii")
        return envelope

    def notification(self, topic: str, record: dict[str, Any], message_id: str, version: str = "2") -> dict[str, Any]:
        return self.sign({
            "Type": "Notification", "MessageId": message_id, "TopicArn": topic,
            "Message": json.dumps(record), "Timestamp": iso(),
            "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic}:1",
        }, version)

    def confirmation(self, topic: str, message_id: str, version: str = "2",
                     kind: str = "SubscriptionConfirmation") -> dict[str, Any]:
        token = "2336412f37fb687f5d51e6e2425dacbba0d3a2c3ab2d7e4e0f3a1b2c3d4e5f6a"
        return self.sign({
            "Type": kind, "MessageId": message_id, "Token": token, "TopicArn": topic,
            "Message": f"You have chosen to subscribe to the topic {topic}.",
            "SubscribeURL": (f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription"
                             f"&TopicArn={topic}&Token={token}"),
            "Timestamp": iso(),
        }, version)


class FakeFetcher:
    """An injectable SNS fetcher: serves the signer's certificate, records confirmations."""

    def __init__(self, signer: SnsSigner) -> None:
        self.signer = signer
        self.certificates: list[str] = []
        self.confirmed: list[str] = []

    def certificate(self, url: str) -> bytes:
        from .sns import SnsRejected, trusted_sns_url

        if not trusted_sns_url(url, pem=True):
            raise SnsRejected(f"untrusted certificate URL {url!r}")
        self.certificates.append(url)
        return self.signer.pem

    def confirm(self, url: str) -> None:
        self.confirmed.append(url)


# -- ledger rows sent through moto -----------------------------------------------------------

GHOST_TAGS = ["ghost-email", "bulk-email"]
EMAIL_ID = "6740a1b2c3d4e5f6a7b8c9d0"
DOMAIN = "mg.example.com"


def ghost_message(addresses: list[str], email_id: str = EMAIL_ID) -> Any:
    """A newsletter batch the way Ghost posts it: batch mode, ``v:email-id``, Ghost's tags."""
    from postgate.domain import Message

    return Message(
        domain=DOMAIN, sender="Example News <noreply@mg.example.com>", to=list(addresses),
        subject="Hello %recipient.name%", html="<p>Hi %recipient.name%</p>", text="Hi %recipient.name%",
        variables={"email-id": email_id, "uuid": "%recipient.uuid%"},
        recipient_variables={a: {"name": a.split("@")[0], "uuid": f"u-{i}"} for i, a in enumerate(addresses)},
        tags=list(GHOST_TAGS),
    )


def ses_send(aws: Any, address: str, batch_id: int, rcpt_id: int) -> str:
    """A real SESv2 ``SendEmail`` (Raw) to moto with Postgate's EmailTags; returns the MessageId."""
    ses = aws.client("sesv2")
    ses.create_email_identity(EmailIdentity=DOMAIN)
    raw = (f"From: Example News <noreply@{DOMAIN}>\r\nTo: {address}\r\nSubject: This week\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n").encode()
    response = ses.send_email(
        FromEmailAddress=f"noreply@{DOMAIN}", Destination={"ToAddresses": [address]},
        Content={"Raw": {"Data": raw}},
        EmailTags=[{"Name": "pg_batch", "Value": str(batch_id)}, {"Name": "pg_rcpt", "Value": str(rcpt_id)}],
    )
    return response["MessageId"]


async def sent_rows(gateway: Any, aws: Any, addresses: list[str], *, email_id: str = EMAIL_ID,
                    commit: bool = True) -> list[tuple[Any, str]]:
    """Store a Ghost batch, send each row through moto's SES, and (``commit``) record the send on
    the ledger as the SES delivery would (``sent`` + provider id). Returns ``(row, ses id)`` pairs
    with the rows as stored afterwards."""
    import asyncio

    from postgate.batching import build_batch
    from postgate.domain import RecipientStatus, RecipientUpdate

    batch, recipients = build_batch(ghost_message(addresses, email_id))
    created = await gateway.storage.create_batch(batch, recipients)
    rows = await gateway.storage.list_recipients(created.batch.id, 0, len(addresses) + 10)
    ids = [await asyncio.to_thread(ses_send, aws, row.address, row.batch_id, row.id) for row in rows]
    if commit:
        await gateway.storage.update_recipients([
            RecipientUpdate(row.id, RecipientStatus.SENT, attempts=1, provider_id=ses_id)
            for row, ses_id in zip(rows, ids)
        ])
        rows = await gateway.storage.list_recipients(created.batch.id, 0, len(addresses) + 10)
    return list(zip(rows, ids))
