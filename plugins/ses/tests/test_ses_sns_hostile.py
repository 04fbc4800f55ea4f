"""``POST /ses/sns`` under hostile input, against a live Hypercorn: generated envelopes.

The certificate fetcher is the real :class:`~postgate_ses.sns.SnsFetcher`, pointed (as with moto)
at a local HTTP server that serves the test signer's certificate and counts every GET. Forged
envelopes that fail a cheap check must cost no GET at all; no body may get a 5xx (a genuine,
signed event Postgate cannot store yet gets a deliberate 503 for SNS to retry, never a 500).
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postgate_ses.sns import MESSAGE_TYPES, STRING_FIELDS
from postgate_ses.testing import CERT_URL, REGION, SnsSigner, iso, ses_record

TOPIC = f"arn:aws:sns:{REGION}:123456789012:postgate-ses-events"
MAX_AGE = 3600
SKEW = 300
SNS_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z")
HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                              HealthCheck.too_slow])


class CountingCertServer:
    """A local HTTP server standing in for ``sns.<region>.amazonaws.com``: counts every GET."""

    def __init__(self, pem: bytes) -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.hits.append(self.path)
                body = pem if self.path.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def certificate_fetches(self) -> int:
        return sum(1 for path in self.hits if path.endswith(".pem"))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Endpoint:
    def __init__(self, server: Any, certs: CountingCertServer, signer: SnsSigner) -> None:
        self.server, self.certs, self.signer = server, certs, signer

    def post(self, body: bytes | str | Any) -> tuple[int, Any]:
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        request = urllib.request.Request(f"{self.server.url}/ses/sns", data=data, method="POST",
                                         headers={"Content-Type": "text/plain; charset=UTF-8"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        return status, json.loads(payload) if payload else None


@pytest.fixture
def endpoint(live_server):
    signer = SnsSigner()
    certs = CountingCertServer(signer.pem)
    server = live_server(load_entrypoints=True, load_plugins=["ses"], background=False, plugin_settings={
        "ses": {"endpoint_url": certs.url, "sns_endpoint": True, "sns_topic_arns": [TOPIC],
                "sns_max_age_seconds": MAX_AGE, "sns_clock_skew_seconds": SKEW}})
    yield Endpoint(server, certs, signer)
    certs.close()


def genuine(signer: SnsSigner, kind: str) -> dict[str, Any]:
    if kind == "Notification":
        return signer.notification(TOPIC, ses_record("Open", "ses-1", "a@example.com"), "n-1")
    return signer.confirmation(TOPIC, "c-1", kind=kind)


# -- strategies ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
not_strings = json_values.filter(lambda value: not isinstance(value, str))

#: (``https://SNS.<REGION>.AMAZONAWS.COM/…`` is not here: host names are case-insensitive, so it is
#: AWS's own host and rightly fetched; the unit tests of ``sns_host_region`` cover it.)
bad_cert_urls = st.one_of(
    st.tuples(st.sampled_from(["http", "ftp", "file", "gopher", "HTTPS "]), st.just(f"sns.{REGION}.amazonaws.com"),
              st.just("/SimpleNotificationService-abc.pem")),
    st.tuples(st.just("https"), st.sampled_from([
        f"sns.{REGION}.amazonaws.com.evil.example", "sns.eu-west-1.amazonaws.com", "evil.example", "127.0.0.1",
        f"sns.{REGION}.amazonaws.com:443", f"user@sns.{REGION}.amazonaws.com", f"sns.{REGION}.amazonaws.com.",
        "169.254.169.254", "localhost", f"sns.{REGION}.amazonaws.co",
        f"sqs.{REGION}.amazonaws.com", f"sns.{REGION}.amazonaws.com@evil.example",
    ]), st.just("/SimpleNotificationService-abc.pem")),
    st.tuples(st.just("https"), st.just(f"sns.{REGION}.amazonaws.com"), st.sampled_from([
        "/", "/x.pem", "/SimpleNotificationService-abc.pem?x=1", "/SimpleNotificationService-abc.pem#f",
        "/../SimpleNotificationService-abc.pem", "/SimpleNotificationService-.pem", "/a/SimpleNotificationService-b.pem",
        "/SimpleNotificationService-abc.pem/", "/latest/meta-data/", "/SimpleNotificationService-ab%2Fc.pem",
    ])),
).map(lambda parts: f"{parts[0]}://{parts[1]}{parts[2]}") | st.text(max_size=60)

bad_timestamps = st.one_of(
    st.floats(min_value=MAX_AGE + 60, max_value=1e9).map(lambda age: iso(offset=-age)),
    st.floats(min_value=SKEW + 60, max_value=1e9).map(lambda ahead: iso(offset=ahead)),
    st.text(max_size=40).filter(lambda text: not SNS_TIMESTAMP.fullmatch(text)),
    st.sampled_from(["2024-05-06T09:00:03.512", "2024-05-06 09:00:03Z", "٢٠٢٤-05-06T09:00:03Z",
                     "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", "2024-13-45T25:61:61Z"]),
)
bad_subscribe_urls = st.sampled_from([
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + TOPIC + "&Token=t",
    "https://evil.example/?Action=ConfirmSubscription&TopicArn=" + TOPIC,
    "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + TOPIC,
    "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&TopicArn=" + TOPIC,
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:1:other",
    "https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription&TopicArn=" + TOPIC,
    "https://169.254.169.254/latest/meta-data/",
])

#: (field, value strategy) pairs, each of which breaks one check that needs no network.
cheap_breaks = st.one_of(
    st.tuples(st.sampled_from(STRING_FIELDS), not_strings),
    st.tuples(st.just("MessageAttributes"), not_strings.filter(lambda value: not isinstance(value, dict))),
    st.tuples(st.just("Type"), st.text(max_size=30).filter(lambda text: text not in MESSAGE_TYPES)),
    st.tuples(st.just("TopicArn"), st.text(max_size=80).filter(lambda text: text != TOPIC)),
    st.tuples(st.just("SignatureVersion"), st.text(max_size=5).filter(lambda text: text not in ("1", "2"))),
    st.tuples(st.just("SigningCertURL"), bad_cert_urls),
    st.tuples(st.just("Timestamp"), bad_timestamps),
    st.tuples(st.just("Signature"), st.text(min_size=1, max_size=40).map(lambda text: text + "!")),
    st.tuples(st.just("SubscribeURL"), bad_subscribe_urls),
    st.tuples(st.sampled_from(["MessageId", "TopicArn", "Message", "Timestamp", "SignatureVersion", "Signature",
                               "SigningCertURL"]), st.just(DELETE := object())),
)


def apply(envelope: dict[str, Any], changes: list[tuple[str, Any]]) -> dict[str, Any]:
    envelope = dict(envelope)
    for key, value in changes:
        if value is DELETE:
            envelope.pop(key, None)
        else:
            envelope[key] = value
    return envelope


def breaks_something(envelope: dict[str, Any], changes: list[tuple[str, Any]]) -> bool:
    """Whether at least one change really breaks a cheap check for this envelope's Type (e.g. a
    bad ``SubscribeURL`` on a notification is not read, and ``Type`` may be changed back)."""
    kind = envelope.get("Type")
    final = dict(changes)  # a later change of a field replaces an earlier one
    for key, value in final.items():
        if key == "SubscribeURL" and isinstance(value, str) and kind == "Notification":
            continue
        return True
    return False


# -- properties ---------------------------------------------------------------------------------


@HYPOTHESIS
@given(kind=st.sampled_from(sorted(MESSAGE_TYPES)), changes=st.lists(cheap_breaks, min_size=1, max_size=3))
def test_forged_envelopes_are_refused_without_any_outbound_request(endpoint, kind, changes):
    envelope = apply(genuine(endpoint.signer, kind), changes)
    if not breaks_something(envelope, changes):
        return
    endpoint.certs.hits.clear()  # the fixture serves every example of the run
    status, body = endpoint.post(envelope)
    assert status in (400, 403), (status, body, changes)
    assert set(body) == {"message"} and isinstance(body["message"], str)
    assert endpoint.certs.hits == [], changes


@HYPOTHESIS
@given(body=st.one_of(
    st.binary(max_size=300),
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from([*STRING_FIELDS, "MessageAttributes"]), json_values, max_size=12).map(json.dumps),
    st.integers(min_value=30, max_value=200_000).map(lambda depth: "[" * depth + "]" * depth),
    # (deep, but under the 1 MiB limit: bigger bodies are refused from their Content-Length)
    st.integers(min_value=30, max_value=100_000).map(lambda depth: '{"Type": "Notification", "Message": '
                                                      + '{"a":' * depth + "1" + "}" * depth + "}"),
    st.sampled_from([b"\xff\xfe{}", b'{"Type": "Notification\xc3"}', '{"Type": "\\ud800"}', '{"Type": NaN}',
                     b"\x00" * 64]),
))
def test_any_body_gets_a_4xx_never_a_5xx(endpoint, body):
    status, answer = endpoint.post(body)
    assert 400 <= status < 500, (status, answer)
    assert set(answer) == {"message"}
    assert endpoint.certs.hits == []


def test_huge_bodies_are_refused_before_they_are_read(endpoint):
    import http.client
    import urllib.parse

    url = urllib.parse.urlsplit(endpoint.server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.putrequest("POST", "/ses/sns")
    connection.putheader("Content-Type", "text/plain; charset=UTF-8")
    connection.putheader("Content-Length", str(2 * 1024 * 1024))
    connection.endheaders()  # no body sent: the answer must come from the declared length alone
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (413, {"message": "body too large"})
    connection.close()
    assert endpoint.certs.hits == []


def test_a_genuine_envelope_costs_one_fetch_and_a_cached_one_none(endpoint):
    status, answer = endpoint.post(genuine(endpoint.signer, "Notification"))
    assert (status, answer) == (503, {"message": "message not known yet; retry later"})  # not in the ledger
    assert endpoint.certs.certificate_fetches() == 1
    status, _ = endpoint.post(genuine(endpoint.signer, "SubscriptionConfirmation"))
    assert status == 200
    assert endpoint.certs.certificate_fetches() == 1
    assert [p for p in endpoint.certs.hits if not p.endswith(".pem")][0].startswith("/?Action=ConfirmSubscription")
    # a well-formed but wrongly signed envelope does fetch (once: cached), and is refused
    forged = dict(genuine(endpoint.signer, "Notification"), Message="forged")
    assert endpoint.post(forged)[0] == 403
    assert endpoint.certs.certificate_fetches() == 1


def test_the_certificate_url_must_be_in_the_topics_region_and_shape(endpoint):
    base = genuine(endpoint.signer, "Notification")
    assert base["SigningCertURL"] == CERT_URL
    for url in (CERT_URL.replace(REGION, "eu-west-1"), CERT_URL + "?x", CERT_URL.replace("SimpleNotificationService-", "x-"),
                CERT_URL.replace("https://", "https://user@")):
        assert endpoint.post(dict(base, SigningCertURL=url))[0] == 403
    assert endpoint.certs.hits == []


@HYPOTHESIS
@given(message=st.one_of(
    st.text(min_size=1, max_size=50),  # SNS has no empty messages
    json_values.map(json.dumps),
    st.integers(min_value=30, max_value=100_000).map(lambda depth: '{"eventType": "Open", "mail": '
                                                     + "[" * depth + "]" * depth + "}"),
    st.tuples(st.sampled_from(["eventType", "mail", "open", "tags", "destination", "timestamp", "messageId"]),
              not_strings).map(lambda change: json.dumps(mutated_record(*change))),
))
def test_signed_notifications_with_hostile_records_never_get_a_500(endpoint, message):
    envelope = endpoint.signer.sign({"Type": "Notification", "MessageId": "n", "TopicArn": TOPIC,
                                     "Message": message, "Timestamp": iso()})
    status, answer = endpoint.post(envelope)
    assert status in (200, 503), (status, answer)
    assert answer["message"] in ("ok", "ignored", "message not known yet; retry later")
    assert endpoint.certs.certificate_fetches() <= 1


def mutated_record(key: str, value: Any) -> dict[str, Any]:
    record = ses_record("Open", "ses-1", "a@example.com", rcpt_id=1, batch_id=1)
    if key in record:
        record[key] = value
    else:
        record["mail"][key] = value
    return record


def test_a_signed_confirmation_for_another_region_is_refused_before_any_request(endpoint):
    signer = endpoint.signer
    for url in ("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + TOPIC + "&Token=t",
                "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
                "arn:aws:sns:us-east-1:123456789012:another-topic&Token=t"):
        confirmation = signer.sign(dict(signer.confirmation(TOPIC, "c"), SubscribeURL=url))
        status, answer = endpoint.post(confirmation)
        assert (status, answer) == (403, {"message": "Forbidden"})
    assert endpoint.certs.hits == []  # neither the certificate nor the SubscribeURL was fetched


def test_timestamps_are_checked_in_both_directions(endpoint):
    signer = endpoint.signer
    record = ses_record("Open", "ses-1", "a@example.com")
    def at(offset: float) -> dict[str, Any]:
        return signer.sign(dict(signer.notification(TOPIC, record, "n"), Timestamp=iso(offset=offset)))

    assert endpoint.post(at(-MAX_AGE - 5))[0] == 403
    assert endpoint.post(at(SKEW + 5))[0] == 403
    assert endpoint.post(at(365 * 86400))[0] == 403
    assert endpoint.certs.hits == []
    assert endpoint.post(at(SKEW - 30))[0] == 503  # a little ahead is fine (clock skew): genuine, not in the ledger
    assert endpoint.post(at(-MAX_AGE + 30))[0] == 503
    assert endpoint.certs.certificate_fetches() == 1
