"""The fault proxy itself: forwarding, rule matching, and errors in every AWS protocol."""

from __future__ import annotations

import pathlib
import sys

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from fault_proxy import Fault, FaultProxy  # noqa: E402

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})
RAW = b"From: a@mg.example.com\r\nTo: b@example.com\r\nSubject: s\r\n\r\nbody\r\n"


def client(aws, proxy, service):
    import boto3

    return boto3.client(service, endpoint_url=proxy.url, region_name="us-east-1", config=NO_RETRY,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def send(ses, to="b@example.com"):
    return ses.send_email(FromEmailAddress="a@mg.example.com", Destination={"ToAddresses": [to]},
                          Content={"Raw": {"Data": RAW}})


def test_forwards_and_counts_nth_per_rule_and_when(aws):
    aws.client("sesv2").create_email_identity(EmailIdentity="mg.example.com")
    with FaultProxy(aws.url) as proxy:
        ses = client(aws, proxy, "sesv2")
        first = proxy.inject(Fault.throttle(), action="SendEmail", nth=2)
        second = proxy.inject(Fault.sending_paused(), action="SendEmail", nth=3)
        targeted = proxy.inject(Fault.message_rejected("no"), action="SendEmail",
                                when=lambda r: r.destinations() == ["target@example.com"], times=1)
        assert send(ses)["MessageId"]
        with pytest.raises(ses.exceptions.TooManyRequestsException):
            send(ses)
        with pytest.raises(ses.exceptions.SendingPausedException):
            send(ses)
        with pytest.raises(ses.exceptions.MessageRejected, match="no"):
            send(ses, "target@example.com")
        assert send(ses, "target@example.com")["MessageId"]  # times=1 used up
        assert [s.outcome for s in proxy.seen("SendEmail")] == [
            "forwarded", "throttle", "sending_paused", "message_rejected", "forwarded"]
        assert [s.status for s in proxy.seen("SendEmail")] == [200, 429, 400, 400, 200]
        assert len(first.hits) == len(second.hits) == len(targeted.hits) == 1
        assert targeted.hits[0].raw_email() == RAW
        proxy.clear()
        assert send(ses)["MessageId"]
    assert len(aws.raw_messages()) == 3


def test_drops_before_and_after_forwarding(aws):
    aws.client("sesv2").create_email_identity(EmailIdentity="mg.example.com")
    with FaultProxy(aws.url) as proxy:
        ses = client(aws, proxy, "sesv2")
        proxy.inject(Fault.drop(), action="SendEmail", nth=1)
        proxy.inject(Fault.drop_after_forward(), action="SendEmail", nth=2)
        with pytest.raises(ConnectionClosedError):
            send(ses, "never@example.com")
        with pytest.raises(ConnectionClosedError):
            send(ses, "sent@example.com")
        assert [s.status for s in proxy.seen()] == [None, None]
    assert [m["destinations"][0] for m in aws.raw_messages()] == ["sent@example.com"]


def test_errors_in_query_and_json_protocols(aws):
    with FaultProxy(aws.url) as proxy:
        proxy.inject(Fault.aws_error(400, "Throttling", "Maximum sending rate exceeded."), action="GetSendQuota")
        proxy.inject(Fault.aws_error(400, "QueueDoesNotExist", "no queue"), action="GetQueueUrl")
        proxy.inject(Fault.server_error(503), action="ListTopics")
        with pytest.raises(ClientError) as v1:
            client(aws, proxy, "ses").get_send_quota()
        assert v1.value.response["Error"]["Code"] == "Throttling"
        with pytest.raises(ClientError) as sqs:
            client(aws, proxy, "sqs").get_queue_url(QueueName="missing")
        assert sqs.value.response["Error"]["Code"].endswith("QueueDoesNotExist")
        with pytest.raises(ClientError) as sns:
            client(aws, proxy, "sns").list_topics()
        assert sns.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert client(aws, proxy, "sqs").list_queues().get("QueueUrls", []) == []  # forwarded
        assert [s.request.protocol for s in proxy.seen()] == ["query", "json", "query", "json"]
