"""The SES delivery backend's pure parts: error mapping, SES message rules, AIMD, settling, clients."""

from __future__ import annotations

import pathlib
import sys
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from postgate import Recipient, RecipientStatus
from postgate_ses import aws as ses_aws
from postgate_ses.delivery import (MAX_LINE, Aimd, Verdict, check_raw, classify_error, has_long_line, ses_address,
                                   verdict_result)
from postgate_ses.settings import SesSettings

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from fault_proxy import Fault, FaultProxy  # noqa: E402
from ses_helpers import ses_gateway  # noqa: E402


def client_error(code: str, message: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail")


@pytest.mark.parametrize(("exc", "kind", "code"), [
    (client_error("TooManyRequestsException", "Maximum sending rate exceeded.", 429), "throttled", 421),
    (client_error("TooManyRequestsException", "Daily message quota exceeded.", 429), "quota", 421),
    (client_error("Throttling", "Maximum sending rate exceeded.", 400), "throttled", 421),
    (client_error("SendingPausedException", "paused", 400), "paused", 451),
    (client_error("AccountSuspendedException", "suspended", 400), "paused", 451),
    (client_error("MessageRejected", "Email address is not verified.", 400), "permanent", 550),
    (client_error("BadRequestException", "Illegal address", 400), "permanent", 553),
    (client_error("BadRequestException", "Header too long", 400), "permanent", 550),
    (client_error("InvalidParameterValue", "Missing domain", 400), "permanent", 553),
    (client_error("NotFoundException", "Configuration set <postgate> does not exist.", 404), "config", 451),
    (client_error("MailFromDomainNotVerifiedException", "MX missing", 400), "config", 451),
    (client_error("UnrecognizedClientException", "bad token", 403), "config", 451),
    (client_error("InternalFailure", "oops", 500), "unknown", None),
    (client_error("ServiceUnavailable", "later", 503), "unknown", None),
    (client_error("SomethingNew", "?", 400), "temporary", 451),
    (ReadTimeoutError(endpoint_url="http://ses"), "unknown", None),
    (ConnectionClosedError(endpoint_url="http://ses"), "unknown", None),
    (EndpointConnectionError(endpoint_url="http://ses"), "temporary", 451),
    (ConnectTimeoutError(endpoint_url="http://ses"), "temporary", 451),
    (NoCredentialsError(), "config", 451),
    (RuntimeError("anything else"), "unknown", None),
])
def test_errors_map_to_outcomes_and_mailgun_codes(exc, kind, code):
    verdict = classify_error(exc)
    assert verdict.kind == kind
    result = verdict_result(7, verdict)
    assert result.recipient_id == 7
    if kind == "unknown":
        assert result.outcome == "unknown"
    else:
        assert result.outcome == "failed" and result.code == code
        assert result.permanent is (kind == "permanent")
        assert result.enhanced_code[0] == str(code)[0]


def test_paused_verdicts_say_which_pause():
    assert classify_error(client_error("AccountSuspendedException", "x", 400)).pause == "suspended"
    assert classify_error(client_error("SendingPausedException", "x", 400)).pause == "sending-paused"
    bare_404 = classify_error(client_error("404", "<html>Not Found</html>", 404), "SendBulkEmail")
    assert bare_404.kind == "config" and "SendBulkEmail is not available" in bare_404.message


def test_sent_verdict_carries_the_message_id():
    result = verdict_result(3, Verdict("sent", provider_id="0100-abc"))
    assert (result.outcome, result.provider_id) == ("sent", "0100-abc")


GOOD = b"From: a@mg.example.com\r\nTo: b@example.com\r\nSubject: hi\r\n  folded\r\n\r\nbody\r\n"


def test_check_raw_accepts_a_normal_message():
    assert check_raw(GOOD) is None


@pytest.mark.parametrize(("raw", "problem"), [
    (b"From: a@b\r\nSubject: x\r\nbody without separator", "no blank line"),
    (b"From: a@b\r\n\r\n" + b"x" * 999 + b"\r\n", "line 3 is 999 characters"),
    (b"From: a@b\r\nX-Long: " + b"y" * 995 + b"\r\n\r\nbody", "line 2 is 1003 characters"),
    (b"From: a@b\r\nList-Unsubscribe: <a>\r\nlist-unsubscribe: <b>\r\n\r\nbody", "'list-unsubscribe' appears 2"),
    (b"From: a@b\r\nSubject: x\r\nSubject: y\r\n\r\nbody", "'subject' appears 2"),
    ("From: a@b\r\nSubject: caf\u00e9\r\n\r\nbody".encode(), "non-ASCII"),
    (b"From: a@b\r\nBad Name: x\r\n\r\nbody", "malformed header"),
])
def test_check_raw_finds_what_ses_would_refuse(raw, problem):
    assert problem in (check_raw(raw) or "")


#: Lines around SES's limit (with and without their CR), short ones, and lone CRs and LFs.
_LINES = st.lists(st.tuples(st.sampled_from([0, 1, 75, 500, MAX_LINE - 1, MAX_LINE, MAX_LINE + 1, MAX_LINE + 2]),
                            st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\r\n", b""])), max_size=12)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(_LINES)
@example([(MAX_LINE + 1, b"\n")])
@example([(MAX_LINE + 1, b"")])
@example([(MAX_LINE, b"\r\n"), (MAX_LINE + 2, b"\n")])
def test_the_long_line_scan_agrees_with_splitting_every_line(lines):
    raw = b"".join(b"x" * length + end for length, end in lines)
    assert has_long_line(raw) == (max(map(len, raw.split(b"\n"))) > MAX_LINE + 1)


def test_check_raw_allows_repeatable_headers():
    raw = b"From: a@b\r\nReceived: x\r\nReceived: y\r\nX-Mailgun-Tag: a\r\nX-Mailgun-Tag: b\r\n\r\nbody"
    assert check_raw(raw) is None


def test_addresses_for_ses():
    assert ses_address("b@b\u00fccher.example") == "b@xn--bcher-kva.example"
    assert ses_address("Plain@Example.com") == "Plain@Example.com"
    with pytest.raises(ValueError, match="SMTPUTF8"):
        ses_address("j\u00f6rg@example.com")
    with pytest.raises(ValueError):
        ses_address("no-at-sign")


def test_aimd_halves_once_per_burst_and_recovers_additively():
    aimd = Aimd(recovery=0.1, hold=1.0)
    assert aimd.factor(100.0) == 1.0
    assert aimd.throttled(100.0) is True
    assert aimd.factor(100.0) == pytest.approx(0.5)
    assert aimd.throttled(100.5) is False  # the same burst
    assert aimd.throttled(101.0) is True
    assert aimd.factor(101.0) == pytest.approx(0.3)  # 0.5 + 0.1 recovered, halved
    assert aimd.factor(103.0) == pytest.approx(0.5)
    assert aimd.factor(200.0) == 1.0
    slow = Aimd(recovery=0.0001, hold=1.0)
    for second in range(300, 320):
        slow.throttled(float(second))
    assert slow.factor(319.0) == pytest.approx(1 / 16)  # the floor


async def test_settle_uses_provider_ids_and_the_grace_period(aws, gateway_factory):
    gw = ses_gateway(gateway_factory, aws.url, in_doubt_grace_seconds=10)
    from postgate_ses.delivery import SesDelivery

    delivery = SesDelivery(gw)
    lease = gw.settings.gateway.lease_seconds
    now = time.time()

    def row(id_, provider_id=None):
        return Recipient(id=id_, batch_id=1, domain="mg.example.com", address=f"r{id_}@example.com", name=None,
                         message_id=f"m{id_}", variables={}, status=RecipientStatus.SENDING,
                         lease_until=now + lease, provider_id=provider_id, in_doubt=True)

    delivery._unanswered[3] = now - 11  # this process made the call 11 s ago
    settled = await delivery.settle([row(1, "ses-id-1"), row(2), row(3)])
    assert settled[1].outcome == "sent" and settled[1].provider_id == "ses-id-1"
    assert 2 not in settled  # seen in doubt just now: wait for events
    # No event source: nobody can tell, so gateway.in_doubt decides (never a false failure).
    assert settled[3].outcome == "unknown" and "no event source" in settled[3].message
    delivery._doubt_seen[2] -= 10  # ten seconds later, still no event
    assert (await delivery.settle([row(2)]))[2].outcome == "unknown"
    assert not delivery._doubt_seen and not delivery._unanswered
    # With the SES event source, a Send event would have come: no event means SES never took it.
    delivery.event_source = True
    delivery._unanswered[4] = now - 11
    (unsent,) = (await delivery.settle([row(4)])).values()
    assert unsent.outcome == "unsent" and "not accepted by SES" in unsent.message


def test_send_clients_never_retry_and_read_clients_do(aws):
    with FaultProxy(aws.url) as proxy:
        settings = SesSettings(endpoint_url=proxy.url)
        proxy.inject(Fault.throttle(), action="SendEmail")
        proxy.inject(Fault.server_error(503), action="GetAccount")
        sender = ses_aws.ses_client(settings, sending=True)
        with pytest.raises(sender.exceptions.TooManyRequestsException, match="Maximum sending rate exceeded"):
            sender.send_email(FromEmailAddress="a@mg.example.com", Destination={"ToAddresses": ["b@example.com"]},
                              Content={"Raw": {"Data": GOOD}})
        assert proxy.count("SendEmail") == 1
        assert sender.meta.config.read_timeout == settings.send_timeout
        assert sender.meta.config.max_pool_connections == settings.send_threads
        reader = ses_aws.ses_client(settings)
        with pytest.raises(ClientError):
            reader.get_account()
        assert proxy.count("GetAccount") == 3  # botocore's standard mode: 3 attempts
    assert ses_aws.operation_has_member(sender, "SendEmail", "ConfigurationOverrides", "Tracking") in (True, False)
    assert ses_aws.operation_has_member(sender, "SendEmail", "NoSuchMember") is False
    assert ses_aws.operation_has_member(sender, "NoSuchOperation") is False


def test_other_clients_share_the_settings(aws):
    settings = SesSettings(endpoint_url=aws.url, region="eu-west-1")
    for client in (ses_aws.sqs_client(settings), ses_aws.sns_client(settings), ses_aws.ses_v1_client(settings)):
        assert client.meta.region_name == "eu-west-1"
        assert client.meta.endpoint_url == aws.url
