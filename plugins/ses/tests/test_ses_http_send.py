"""``send_client = "http"``: the SigV4 signer against botocore's, the request body against boto3's,
SES's answers mapped to the same verdicts as boto3's exceptions (real moto and fault-proxy answers),
credentials that expire, and a send through a gateway on moto."""

from __future__ import annotations

import base64
import json
import pathlib
import sys
import threading
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from botocore.config import Config
from botocore.credentials import Credentials, RefreshableCredentials

from postgate import RecipientStatus
from postgate.testing.fixtures import free_port
from postgate_ses.delivery import classify_error
from postgate_ses.http_send import HttpSendClient, canonical_host, parse_error, request_body
from postgate_ses.sigv4 import FrozenCredentials, SigV4Signer, botocore_headers

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from fault_proxy import Fault, FaultProxy  # noqa: E402
from ses_helpers import drain, ledger, ses_gateway, setup_ses, simple_batch  # noqa: E402

RAW = b"From: a@mg.example.com\r\nTo: b@example.com\r\nSubject: s\r\n\r\nbody \xc3\xa9\r\n"
NOW = datetime(2026, 12, 4, 18, 5, 9, tzinfo=timezone.utc)


def params(to: str = "b@example.com", **extra: object) -> dict:
    return {"FromEmailAddress": "a@mg.example.com", "Destination": {"ToAddresses": [to]},
            "Content": {"Raw": {"Data": RAW}},
            "EmailTags": [{"Name": "pg_batch", "Value": "1"}, {"Name": "pg_rcpt", "Value": "7"}], **extra}


def boto_sesv2(url: str, app_id: str | None = None, read_timeout: float = 30):
    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, user_agent_appid=app_id,
                    read_timeout=read_timeout, connect_timeout=2)
    return boto3.client("sesv2", endpoint_url=url, region_name="us-east-1", config=config,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def http_client(url: str, credentials=None, app_id: str | None = None, read_timeout: float = 30) -> HttpSendClient:
    credentials = credentials or Credentials("testing", "testing")
    return HttpSendClient(boto_sesv2(url, app_id), credentials, connections=4, connect_timeout=2,
                          read_timeout=read_timeout)


# -- the signer --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails",
                                 "http://127.0.0.1:5123/v2/email/outbound-emails",
                                 "http://localhost:80/v2/email/outbound-emails"])
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE  token/with+odd=chars"])
@pytest.mark.parametrize("body", [b"", b'{"a":1}', json.dumps({"x": "y" * 70_000}).encode()])
def test_the_signer_signs_as_botocore_does(url, token, body):
    credentials = FrozenCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    host = canonical_host(url)
    signer = SigV4Signer(host, "/v2/email/outbound-emails", "eu-west-1", "ses")
    ours = signer.headers(body, credentials, NOW)
    theirs = botocore_headers(url, body, credentials, NOW, "eu-west-1", "ses")
    assert ours.pop("Host") == host
    assert ours == theirs
    assert "SignedHeaders=content-type;host;x-amz-date" in ours["Authorization"]


def test_the_signing_key_is_derived_once_a_day_and_per_secret():
    signer = SigV4Signer("h", "/", "us-east-1", "ses")
    first = signer.signing_key("secret", "20261204")
    assert signer.signing_key("secret", "20261204") is first
    assert signer.signing_key("secret", "20261205") != first
    assert signer.signing_key("other", "20261205") != signer.signing_key("secret", "20261205")
    later = signer.headers(b"{}", FrozenCredentials("AK", "secret", None), NOW + timedelta(days=1))
    assert later == botocore_headers("http://h/", b"{}", FrozenCredentials("AK", "secret", None),
                                     NOW + timedelta(days=1), "us-east-1", "ses") | {"Host": "h"}


# -- the request ---------------------------------------------------------------------------------


#: Strings that JSON must escape (quotes, backslashes, controls, non-ASCII) and the body's own
#: structure written into a value.
_HOSTILE = st.lists(st.sampled_from(['"', "\\", "\n", "\x00", "\u2028", "é", "a", "@", "{", "}", ":",
                                     '"Content":{"Raw":{"Data":""}}']), max_size=8).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(sender=_HOSTILE, to=_HOSTILE, tag=_HOSTILE, data=st.binary(max_size=200), configuration=st.booleans())
def test_the_request_body_is_what_json_dumps_writes(sender, to, tag, data, configuration):
    sent = {"FromEmailAddress": sender, "Destination": {"ToAddresses": [to]}, "Content": {"Raw": {"Data": data}},
            "EmailTags": [{"Name": "pg_rcpt", "Value": tag}]}
    if configuration:
        sent["ConfigurationSetName"] = tag
    reference = dict(sent, Content={"Raw": {"Data": base64.b64encode(data).decode("ascii")}})
    assert request_body(sent) == json.dumps(reference, separators=(",", ":")).encode()


async def test_the_request_means_what_boto3_sends_with_the_same_app_id(aws):
    tracking = {"ConfigurationOverrides": {"Tracking": {"OpenTrackingEnabled": "ENABLED",
                                                        "ClickTrackingEnabled": "DISABLED"}}}
    aws.client("sesv2").create_email_identity(EmailIdentity="mg.example.com")
    aws.client("sesv2").create_configuration_set(ConfigurationSetName="postgate")
    with FaultProxy(aws.url) as proxy:
        sent = params(ConfigurationSetName="postgate", **tracking)
        boto_sesv2(proxy.url, app_id="worker3").send_email(**sent)
        client = http_client(proxy.url, app_id="worker3")
        try:
            assert (await client.send_email(sent)).strip()
        finally:
            await client.aclose()
        boto_call, http_call = proxy.seen("SendEmail")
    assert http_call.request.json() == boto_call.request.json()
    assert http_call.request.raw_email() == RAW
    assert http_call.request.path == boto_call.request.path
    assert "app/worker3" in http_call.request.headers["user-agent"]
    assert http_call.request.headers["content-type"] == "application/json"
    assert len(aws.raw_messages()) == 2


async def test_expired_credentials_are_refreshed_before_a_send(aws):
    aws.client("sesv2").create_email_identity(EmailIdentity="mg.example.com")
    issued, threads = [], []

    def refresh() -> dict[str, str]:
        threads.append(threading.current_thread())
        issued.append(f"ASIA{len(issued)}")
        expiry = datetime.now(timezone.utc) + (timedelta(seconds=1) if len(issued) == 1 else timedelta(hours=1))
        return {"access_key": issued[-1], "secret_key": "s", "token": f"t{len(issued)}",
                "expiry_time": expiry.isoformat()}

    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
    with FaultProxy(aws.url) as proxy:
        client = http_client(proxy.url, credentials)
        try:
            await client.send_email(params())  # 1 s left: botocore refreshes (it wants minutes of margin)
            await client.send_email(params())
        finally:
            await client.aclose()
        seen = [s.request.headers for s in proxy.seen("SendEmail")]
    assert [h["authorization"].split("Credential=")[1].split("/")[0] for h in seen] == ["ASIA1", "ASIA1"]
    assert [h["x-amz-security-token"] for h in seen] == ["t2", "t2"]
    assert threads[1] is not threading.main_thread()  # renewed off the event loop


# -- answers --------------------------------------------------------------------------------------

#: (fault injected in front of moto, verdict kind, Mailgun code, pause) — every row is answered
#: by the fault proxy or moto over HTTP, read by boto3 and by the HTTP client, and both must agree.
ANSWERS = [
    (None, "sent", None, ""),
    (Fault.throttle(), "throttled", 421, ""),
    (Fault.aws_error(400, "ThrottlingException", "Rate exceeded"), "throttled", 421, ""),
    (Fault.daily_quota(), "quota", 421, ""),
    (Fault.sending_paused(), "paused", 451, "sending-paused"),
    (Fault.account_suspended(), "paused", 451, "suspended"),
    (Fault.message_rejected(), "permanent", 550, ""),
    (Fault.aws_error(400, "LimitExceededException", "Daily message quota exceeded."), "config", 451, ""),
    (Fault.aws_error(400, "MailFromDomainNotVerifiedException", "MX missing"), "config", 451, ""),
    (Fault.aws_error(404, "NotFoundException", "Configuration set <x> does not exist."), "config", 451, ""),
    (Fault.aws_error(400, "BadRequestException", "Illegal address"), "permanent", 553, ""),
    (Fault.aws_error(403, "UnrecognizedClientException", "bad token"), "config", 451, ""),
    (Fault("html_404", status=404, raw_body=b"<html>Not Found</html>"), "config", 451, ""),
    (Fault.server_error(500), "unknown", None, ""),
    (Fault.server_error(503, forward=True), "unknown", None, ""),
    (Fault("bare_502", status=502, raw_body=b""), "unknown", None, ""),
    (Fault.drop(), "unknown", None, ""),
    (Fault.drop_after_forward(), "unknown", None, ""),
    (Fault.slow(6.0), "unknown", None, ""),
]


async def _verdicts(url: str, sent: dict) -> tuple:
    """What boto3 and the HTTP client each make of one answer (read timeout 2 s: an answer that
    takes longer on a loaded machine than that would be a timeout where none was meant)."""
    try:
        boto = ("sent", boto_sesv2(url, read_timeout=2.0).send_email(**sent)["MessageId"])
    except Exception as exc:  # noqa: BLE001 - every failure is a verdict
        boto = classify_error(exc)
    client = http_client(url, read_timeout=2.0)
    try:
        http = ("sent", await client.send_email(sent))
    except Exception as exc:  # noqa: BLE001
        http = classify_error(exc)
    finally:
        await client.aclose()
    return boto, http


@pytest.mark.parametrize(("fault", "kind", "code", "pause"), ANSWERS,
                         ids=[f.name if f else "accepted" for f, *_ in ANSWERS])
async def test_answers_map_to_the_verdicts_boto3_gets(aws, fault, kind, code, pause):
    aws.client("sesv2").create_email_identity(EmailIdentity="mg.example.com")
    with FaultProxy(aws.url) as proxy:
        if fault is not None:
            proxy.inject(fault, action="SendEmail")
        boto, http = await _verdicts(proxy.url, params())
    if kind == "sent":
        assert boto[0] == http[0] == "sent" and boto[1] != http[1]
        return
    assert (http.kind, http.code, http.pause) == (boto.kind, boto.code, boto.pause)
    assert http.kind == kind and http.pause == pause
    if code is not None:
        assert verdict_code(http) == code


def verdict_code(verdict) -> int:
    from postgate_ses.delivery import verdict_result

    return verdict_result(1, verdict).code


async def test_moto_rejects_an_unverified_sender_for_both_clients(aws):
    boto, http = await _verdicts(aws.url, params())  # no identity created
    assert boto.kind == http.kind == "permanent" and boto.code == http.code
    assert "MessageRejected" in http.message


async def test_a_closed_port_is_never_sent_for_both_clients():
    port = free_port()  # not an ephemeral port: a connection to it cannot connect to itself
    boto, http = await _verdicts(f"http://127.0.0.1:{port}", params())
    assert boto.kind == http.kind == "temporary"


@pytest.mark.parametrize(("status", "headers", "body", "code", "message"), [
    (429, {"x-amzn-errortype": "TooManyRequestsException:http://internal.amazon.com/"},
     b'{"message":"Maximum sending rate exceeded."}', "TooManyRequestsException", "Maximum sending rate exceeded."),
    (400, {}, b'{"__type":"com.amazonaws.ses#MessageRejected","Message":"no"}', "MessageRejected", "no"),
    (400, {}, b'{"code":"SendingPausedException","message":"p"}', "SendingPausedException", "p"),
    (400, {}, b"not json", "400", "not json"),
    (503, {}, b"<html>busy</html>", "503", "Service Unavailable"),
    (400, {}, b"[1, 2]", "400", ""),
])
def test_error_answers_are_read_as_botocore_reads_them(status, headers, body, code, message):
    error = parse_error(status, headers, body)
    assert (error.code, error.message, error.status) == (code, message, status)


# -- through a gateway ---------------------------------------------------------------------------


@pytest.mark.parametrize("send_client", ["http", "boto3"])
async def test_a_batch_goes_out_once_each_through_moto(aws, gateway_factory, monkeypatch, send_client):
    monkeypatch.setenv("AWS_SDK_UA_APP_ID", "pg-e2e")
    setup_ses(aws)
    addresses = [f"m{i}@example.com" for i in range(40)]
    with FaultProxy(aws.url) as proxy:
        gw = ses_gateway(gateway_factory, proxy.url, send_client=send_client)
        await gw.start()
        await gw.accept(simple_batch(addresses))
        await drain(gw)
        calls = proxy.seen("SendEmail")
    assert sorted(c.request.destinations()[0] for c in calls) == sorted(addresses)
    assert all("app/pg-e2e" in c.request.headers["user-agent"] for c in calls)
    from_http = all(c.request.headers["user-agent"].startswith("postgate-ses ") for c in calls)
    assert from_http is (send_client == "http")
    rows = await ledger(gw)
    assert {row.status for row in rows} == {RecipientStatus.SENT}
    moto_ids = {entry["id"] for entry in aws.raw_messages()}
    assert {row.provider_id for row in rows} == moto_ids and len(moto_ids) == 40
    assert all(row.address.endswith("@example.com") for row in rows)
