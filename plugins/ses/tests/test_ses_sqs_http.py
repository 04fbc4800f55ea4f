"""``events_client = "http"``: SQS's JSON calls signed by the plugin against botocore's signer and
boto3's own requests, SQS's answers and retries against boto3's through the fault proxy in front of
moto, and credentials that expire."""

from __future__ import annotations

import json
import pathlib
import sys
import threading
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import ClientError

from postgate_ses.http_send import canonical_host
from postgate_ses.sigv4 import FrozenCredentials, SigV4Signer
from postgate_ses.sqs_http import SqsAnswerError, SqsHttpClient, parse_error, sign

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from fault_proxy import Fault, FaultProxy  # noqa: E402

NOW = datetime(2026, 12, 4, 18, 5, 9, tzinfo=timezone.utc)
#: Read timeout of the clients in the fault tests: long enough for a loaded machine, except where
#: a slow answer is to time out.
READ_TIMEOUT = 10.0
SHORT_READ_TIMEOUT = 2.0


def boto_sqs(url: str, read_timeout: float = 5) -> object:
    config = Config(retries={"mode": "standard"}, read_timeout=read_timeout, connect_timeout=2)
    return boto3.client("sqs", endpoint_url=url, region_name="us-east-1", config=config,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def http_sqs(url: str, credentials=None, read_timeout: float = 5) -> SqsHttpClient:
    return SqsHttpClient(boto_sqs(url), credentials or Credentials("testing", "testing"), connections=4,
                         connect_timeout=2, read_timeout=read_timeout)


def botocore_authorization(url: str, headers: dict[str, str], body: bytes, credentials, region: str) -> str:
    """What botocore's ``SigV4Auth`` signs for the same request at :data:`NOW`."""
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    request.context["timestamp"] = NOW.strftime("%Y%m%dT%H%M%SZ")
    auth = SigV4Auth(credentials, "sqs", region)
    return auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)


# -- the signature -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://sqs.eu-west-1.amazonaws.com/", "http://127.0.0.1:5123/"])
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE  token/with+odd=chars"])
@pytest.mark.parametrize("body", [b"{}", json.dumps({"QueueUrl": "https://q", "Entries": ["x" * 70_000]}).encode()])
def test_requests_are_signed_as_botocore_signs_them(url, token, body):
    credentials = FrozenCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ReceiveMessage",
               "x-amzn-query-mode": "true"}
    sign(SigV4Signer(canonical_host(url), "/", "eu-west-1", "sqs"), headers, body, credentials, NOW)
    signature = headers["Authorization"].rpartition("Signature=")[2]
    reference = {name: value for name, value in headers.items() if name != "Authorization"}
    assert signature == botocore_authorization(url, reference, body, credentials, "eu-west-1")
    expected = "content-type;host;x-amz-date" + (";x-amz-security-token" if token else "") + \
        ";x-amz-target;x-amzn-query-mode"
    assert f"SignedHeaders={expected}," in headers["Authorization"]
    assert headers.get("X-Amz-Security-Token") == token


async def test_requests_mean_what_boto3_sends(aws):
    queue = aws.client("sqs").create_queue(QueueName="events")["QueueUrl"]
    for body in ("one", "two"):
        aws.client("sqs").send_message(QueueUrl=queue, MessageBody=body)
    receive = {"QueueUrl": queue, "MaxNumberOfMessages": 1, "WaitTimeSeconds": 0, "VisibilityTimeout": 30,
               "MessageSystemAttributeNames": ["SentTimestamp", "ApproximateReceiveCount"]}
    with FaultProxy(aws.url) as proxy:
        by_boto = boto_sqs(proxy.url).receive_message(**receive)
        client = http_sqs(proxy.url)
        try:
            by_http = await client.receive_message(**receive)
            handle = by_http["Messages"][0]["ReceiptHandle"]
            shown = await client.change_message_visibility_batch(
                QueueUrl=queue, Entries=[{"Id": "a", "ReceiptHandle": handle, "VisibilityTimeout": 0}])
            again = await client.receive_message(**receive)  # visible again at once
            handles = [m["ReceiptHandle"] for m in by_boto["Messages"] + again["Messages"]]
            deleted = await client.delete_message_batch(
                QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)])
        finally:
            await client.aclose()
        boto_call, http_call, _ = proxy.seen("ReceiveMessage")
    assert http_call.request.json() == boto_call.request.json()
    assert http_call.request.path == boto_call.request.path
    for name in ("content-type", "x-amz-target", "x-amzn-query-mode"):
        assert http_call.request.headers[name] == boto_call.request.headers[name]
    signed = [h["authorization"].split("SignedHeaders=")[1].split(",")[0] for h in
              (boto_call.request.headers, http_call.request.headers)]
    assert signed[0] == signed[1]
    assert set(by_http["Messages"][0]) == set(by_boto["Messages"][0])
    assert sorted(m["Body"] for m in by_boto["Messages"] + by_http["Messages"]) == ["one", "two"]
    assert [e["Id"] for e in shown["Successful"]] == ["a"]
    assert again["Messages"][0]["Body"] == by_http["Messages"][0]["Body"]
    assert [e["Id"] for e in deleted["Successful"]] == ["0", "1"] and not deleted.get("Failed")
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


# -- answers and retries -------------------------------------------------------------------------

#: (fault, how many requests it answers: None = every one) — each answered to boto3 and to the HTTP
#: client; both must end the same way (answer or error code) after the same number of tries.
FAULTS = [
    (Fault.server_error(500), 1),
    (Fault.server_error(503), None),
    (Fault.aws_error(400, "AWS.SimpleQueueService.RequestThrottled", "slow down"), None),
    (Fault.aws_error(400, "ThrottlingException", "Rate exceeded"), 2),
    (Fault.aws_error(429, "TooManyRequestsException", "Rate exceeded"), 1),
    (Fault.aws_error(400, "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist."), None),
    (Fault.aws_error(403, "InvalidClientTokenId", "bad token"), None),
    (Fault.drop(), 1),
    (Fault.drop_after_forward(), 2),
    (Fault.slow(SHORT_READ_TIMEOUT * 3), 1),
]


async def _outcome(proxy: FaultProxy, queue: str, client: str, read_timeout: float) -> tuple[str, int]:
    """How one ``DeleteMessageBatch`` by boto3 or by the HTTP client ends, and the tries it took."""
    entries = [{"Id": "0", "ReceiptHandle": "not-a-handle"}]
    before = proxy.count("DeleteMessageBatch")
    if client == "boto3":
        try:
            answer = boto_sqs(proxy.url, read_timeout).delete_message_batch(QueueUrl=queue, Entries=entries)
            end = f"{len(answer['Failed'])} failed"
        except ClientError as exc:
            end = exc.response["Error"]["Code"]
        except Exception:  # noqa: BLE001 - a transport error after the last try
            end = "transport"
    else:
        http = http_sqs(proxy.url, read_timeout=read_timeout)
        try:
            end = f"{len((await http.delete_message_batch(QueueUrl=queue, Entries=entries))['Failed'])} failed"
        except SqsAnswerError as exc:
            end = exc.code
        except Exception:  # noqa: BLE001
            end = "transport"
        finally:
            await http.aclose()
    return end, proxy.count("DeleteMessageBatch") - before


@pytest.mark.parametrize(("fault", "times"), FAULTS, ids=[f"{f.name}-{t or 'always'}" for f, t in FAULTS])
async def test_answers_and_retries_match_boto3(aws, fault, times):
    queue = aws.client("sqs").create_queue(QueueName="events")["QueueUrl"]
    ends = {}
    read_timeout = SHORT_READ_TIMEOUT if fault.delay else READ_TIMEOUT
    with FaultProxy(aws.url) as proxy:
        for client in ("boto3", "http"):
            proxy.clear()
            proxy.inject(fault, action="DeleteMessageBatch", times=times)
            ends[client] = await _outcome(proxy, queue, client, read_timeout)
    assert ends["http"] == ends["boto3"]
    if times is None and fault.code:
        assert ends["http"][0] == fault.code
    elif times is not None:
        assert ends["http"] == ("1 failed", times + 1)  # retried until moto answered


async def test_a_queue_moto_does_not_know_is_reported_with_boto3s_code(aws):
    missing = f"{aws.url}/123456789012/missing"
    with pytest.raises(ClientError) as boto3_error:
        boto_sqs(aws.url).receive_message(QueueUrl=missing)
    client = http_sqs(aws.url)
    try:
        with pytest.raises(SqsAnswerError) as http_error:
            await client.receive_message(QueueUrl=missing)
    finally:
        await client.aclose()
    assert http_error.value.code == boto3_error.value.response["Error"]["Code"]
    assert http_error.value.status == 400 and not http_error.value.retryable


@pytest.mark.parametrize(("status", "headers", "body", "code", "message"), [
    (400, {"x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender"},
     b'{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"gone"}', "AWS.SimpleQueueService.NonExistentQueue",
     "gone"),
    (400, {}, b'{"__type":"com.amazonaws.sqs#InvalidAddress","Message":"bad"}', "InvalidAddress", "bad"),
    (400, {}, b"not json", "400", ""),
    (503, {}, b"<html>busy</html>", "503", ""),
    (400, {}, b"[1, 2]", "400", ""),
])
def test_error_answers_are_read_as_botocore_reads_them(status, headers, body, code, message):
    error = parse_error(status, headers, body)
    assert (error.code, error.message, error.status) == (code, message, status)


# -- credentials -----------------------------------------------------------------------------------


class ShortLivedChain:
    """A credential source whose first issue expires within a second, later ones after an hour."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def __call__(self) -> dict[str, str]:
        self.threads.append(threading.current_thread())
        number = len(self.threads)
        lifetime = timedelta(seconds=1) if number == 1 else timedelta(hours=1)
        return {"access_key": f"ASIA{number}", "secret_key": "s", "token": f"t{number}",
                "expiry_time": (datetime.now(timezone.utc) + lifetime).isoformat()}


async def test_expiring_credentials_are_renewed_off_the_event_loop(aws):
    queue = aws.client("sqs").create_queue(QueueName="events")["QueueUrl"]
    chain = ShortLivedChain()
    credentials = RefreshableCredentials.create_from_metadata(chain(), chain, "test")
    with FaultProxy(aws.url) as proxy:
        client = http_sqs(proxy.url, credentials)
        try:
            for _ in range(2):  # 1 s left: botocore renews (it wants minutes of margin)
                await client.receive_message(QueueUrl=queue, WaitTimeSeconds=0)
        finally:
            await client.aclose()
        signed = [(s.request.headers["authorization"].split("Credential=")[1].split("/")[0],
                   s.request.headers["x-amz-security-token"]) for s in proxy.seen("ReceiveMessage")]
    assert signed == [("ASIA2", "t2"), ("ASIA2", "t2")]
    assert len(chain.threads) == 2 and chain.threads[1] is not threading.main_thread()


async def test_without_credentials_no_request_is_sent(aws):
    from botocore.exceptions import NoCredentialsError

    queue = aws.client("sqs").create_queue(QueueName="events")["QueueUrl"]
    with FaultProxy(aws.url) as proxy:
        client = SqsHttpClient(boto_sqs(proxy.url), None, connections=1, connect_timeout=2, read_timeout=5)
        try:
            with pytest.raises(NoCredentialsError):
                await client.receive_message(QueueUrl=queue)
        finally:
            await client.aclose()
        assert proxy.count() == 0
