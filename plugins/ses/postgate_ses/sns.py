"""``POST /ses/sns``: SES events pushed by an SNS HTTPS subscription (contract §3).

Every POST is checked before it is believed. The checks of :func:`check_envelope` need no
network and run first, so a forged POST costs no outbound request:

1. the body is at most 1 MiB (413), UTF-8, JSON (whatever the ``Content-Type``; SNS sends
   ``text/plain``) nested at most 32 levels, an object, with a known ``Type`` (400);
2. every SNS field it carries has its JSON type (strings; ``MessageAttributes`` an object) and the
   fields its ``Type`` requires are present (400);
3. its ``TopicArn`` is on ``sns_topic_arns`` (403; an empty list refuses everything);
4. ``SignatureVersion`` is ``"1"`` or ``"2"`` and ``Signature`` is base64 of a plausible RSA
   signature (403);
5. ``SigningCertURL`` is ``https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-<id>.pem``
   (parsed hostname, no port, userinfo, query or fragment), with the topic's region (403);
6. the signed ``Timestamp`` is neither older than ``sns_max_age_seconds`` (replays) nor more than
   ``sns_clock_skew_seconds`` in the future (403);
7. for (un)subscribe confirmations, ``SubscribeURL`` is an https ``sns.<region>.amazonaws.com``
   URL in the topic's region whose query asks ``ConfirmSubscription`` of that same topic (403).

Only then is the signing certificate fetched (once per URL, cached) and the RSA signature over
the canonical string verified (``SignatureVersion`` 1 = SHA-1, 2 = SHA-256; 403 if it fails).

A refused POST gets a Mailgun-shaped ``{"message": ...}`` (400/413 say why; 403 says
``Forbidden``) and a warning in the log; nothing is stored. Then:

- ``SubscriptionConfirmation``: the (checked) ``SubscribeURL`` is fetched to confirm.
- ``Notification``: the SES record is mapped and stored (deduplicated by the event key, see
  :mod:`postgate_ses.mapping`) before answering 200, so an answered event is never lost. A
  malformed record (wrong JSON types, too deep) is logged and acknowledged. A record whose ledger
  row does not exist yet, or one that could not be stored, is answered 503 with ``Retry-After``
  so that SNS retries it under its delivery policy (it retries 5xx only; 3 retries 20 s apart by
  default), and logged with its body.
- ``UnsubscribeConfirmation``: logged; the subscription is gone.

The certificate fetcher is injectable (:class:`SnsFetcher`). The default GETs the real URL over
verified HTTPS; with ``endpoint_url`` set (moto, LocalStack) it fetches the same file name from
that endpoint instead, with the dummy SigV4 header moto needs to route the request to SNS. The
URL checks always run on the original URL.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import ssl
import urllib.parse
import urllib.request
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from quart import Blueprint, Response, jsonify, request

from .mapping import EventMapper, MalformedRecord, parse_body
from .safejson import UnsafeJson, load_json

log = logging.getLogger("postgate.ses.sns")

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
MESSAGE_TYPES = frozenset({"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"})
HOST_RE = re.compile(r"^sns\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
#: The ``Token`` of a subscription URL: whoever has it can confirm the subscription, so never logged.
TOKEN_RE = re.compile(r"(Token=)[^&\s'\"]*", re.IGNORECASE)
CERT_PATH_RE = re.compile(r"^/SimpleNotificationService-[0-9A-Za-z]{1,128}\.pem$")
TIMESTAMP_RE = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?Z$")
#: Fields that are strings whenever present, and the ones each ``Type`` requires.
STRING_FIELDS = ("Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
                 "Signature", "SigningCertURL", "SubscribeURL", "Token", "UnsubscribeURL")
REQUIRED = {
    "Notification": ("MessageId", "TopicArn", "Message", "Timestamp"),
    "SubscriptionConfirmation": ("MessageId", "TopicArn", "Message", "Timestamp", "SubscribeURL", "Token"),
    "UnsubscribeConfirmation": ("MessageId", "TopicArn", "Message", "Timestamp", "SubscribeURL", "Token"),
}
#: Base64 of an RSA signature of 1024 to 8192 bits.
SIGNATURE_BYTES = (128, 1024)
RETRY_AFTER_SECONDS = 20
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_BODY = 1024 * 1024
MAX_CERT_BYTES = 64 * 1024
CERT_CACHE_SIZE = 32
FETCH_TIMEOUT = 10.0
LOGGED_BODY_CHARS = 8000
#: What moto needs to route a certificate GET to its SNS backend (contract §5.6).
MOTO_SNS_AUTH = ("AWS4-HMAC-SHA256 Credential=x/20240101/{region}/sns/aws4_request, "
                 "SignedHeaders=host, Signature=0")


class SnsRejected(Exception):
    """A POST that is not a genuine SNS message for an allowed topic (``status``: 403, or 400 for
    a body that is not an SNS document at all)."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.status = status


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    keys = NOTIFICATION_KEYS if envelope.get("Type") == "Notification" else CONFIRMATION_KEYS
    return "".join(f"{key}\n{envelope[key]}\n" for key in keys if key in envelope).encode("utf-8")


def sns_host_region(url: str, *, pem: bool = False) -> str | None:
    """The region of a trusted SNS URL (``https://sns.<region>.amazonaws.com[.cn]/…``), else ``None``.

    Checked on the parsed URL: scheme https, no userinfo, no explicit port, the hostname itself
    matching (``sns.us-east-1.amazonaws.com.evil.example`` fails), a ``.pem`` path if ``pem``.
    """
    if not isinstance(url, str):
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or port is not None or parts.username is not None or parts.password is not None:
        return None
    if "@" in parts.netloc:
        return None
    match = HOST_RE.match(parts.hostname or "")
    if match is None or parts.netloc.lower() != (parts.hostname or ""):
        return None
    if pem and (not CERT_PATH_RE.match(parts.path) or parts.query or parts.fragment):
        return None
    return match.group(1)


def trusted_sns_url(url: str, *, pem: bool = False) -> bool:
    return sns_host_region(url, pem=pem) is not None


def topic_region(topic_arn: str) -> str | None:
    parts = topic_arn.split(":")
    return parts[3] if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "sns" else None


def parse_timestamp(value: str) -> datetime | None:
    """SNS's ``2024-05-06T09:00:03.512Z`` (ASCII digits, UTC), else ``None``."""
    match = TIMESTAMP_RE.match(value)
    if match is None:
        return None
    try:
        stamp = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    fraction = match.group(2) or "0"
    return stamp.replace(microsecond=int(fraction[:6].ljust(6, "0")))


def without_tokens(text: str) -> str:
    """``text`` with the value of every ``Token=`` parameter (of a SubscribeURL) cut out."""
    return TOKEN_RE.sub(r"\1…", text)


def subscribe_url_problem(url: str, topic: str) -> str | None:
    """Why ``url`` is not a ``ConfirmSubscription`` URL of ``topic`` in its region, else ``None``."""
    region = sns_host_region(url)
    if region is None:
        return f"untrusted SubscribeURL {url!r}"
    if region != topic_region(topic):
        return f"SubscribeURL region {region!r} differs from the topic's"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    if query.get("Action") != ["ConfirmSubscription"] or query.get("TopicArn") != [topic]:
        return "SubscribeURL does not confirm this topic"
    return None


def check_envelope(envelope: Any, topic_arns: frozenset[str], *, max_age: float, max_skew: float,
                   now: datetime) -> None:
    """Every check that needs no network (module docstring, 1-7); raises :class:`SnsRejected`."""
    if not isinstance(envelope, dict):
        raise SnsRejected("not an SNS message", 400)
    kind = envelope.get("Type")
    if kind is not None and not isinstance(kind, str):
        raise SnsRejected(f"Type must be a string, not {_json_type(kind)}", 400)
    if kind not in MESSAGE_TYPES:
        raise SnsRejected("not an SNS message", 400)
    for key in STRING_FIELDS:
        if key in envelope and not isinstance(envelope[key], str):
            raise SnsRejected(f"{key} must be a string, not {_json_type(envelope[key])}", 400)
    if "MessageAttributes" in envelope and not isinstance(envelope["MessageAttributes"], dict):
        raise SnsRejected("MessageAttributes must be an object", 400)
    for key in REQUIRED[envelope["Type"]]:
        if not envelope.get(key):
            raise SnsRejected(f"missing {key}", 400)
    topic = envelope["TopicArn"]
    if not topic_arns:
        raise SnsRejected("no topics are allowed (set [plugins.ses] sns_topic_arns)")
    if topic not in topic_arns:
        raise SnsRejected(f"topic {topic!r} is not in sns_topic_arns")
    version = envelope.get("SignatureVersion") or ""
    if version not in HASHES:
        raise SnsRejected(f"unsigned or unknown SignatureVersion {version!r}")
    for key in ("Signature", "SigningCertURL"):
        if not envelope.get(key):
            raise SnsRejected(f"missing {key}")
    url = envelope["SigningCertURL"]
    region = sns_host_region(url, pem=True)
    if region is None:
        raise SnsRejected(f"untrusted SigningCertURL {url!r}")
    if region != topic_region(topic):
        raise SnsRejected(f"SigningCertURL region {region!r} differs from the topic's")
    stamp = parse_timestamp(envelope["Timestamp"])
    if stamp is None:
        raise SnsRejected(f"bad Timestamp {envelope['Timestamp'][:40]!r}")
    age = (now - stamp).total_seconds()
    if age > max_age:
        raise SnsRejected(f"Timestamp {envelope['Timestamp']} is older than {max_age:.0f} s")
    if -age > max_skew:
        raise SnsRejected(f"Timestamp {envelope['Timestamp']} is more than {max_skew:.0f} s in the future")
    if envelope["Type"] != "Notification":
        problem = subscribe_url_problem(envelope["SubscribeURL"], topic)
        if problem:
            raise SnsRejected(problem)
    signature_bytes(envelope["Signature"])


def signature_bytes(text: str) -> bytes:
    try:
        signature = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SnsRejected("Signature is not base64") from None
    if not SIGNATURE_BYTES[0] <= len(signature) <= SIGNATURE_BYTES[1]:
        raise SnsRejected(f"Signature of {len(signature)} bytes is not an RSA signature")
    return signature


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


class SnsFetcher:
    """Blocking HTTPS GETs for certificates and subscription confirmations (run in a thread).

    ``endpoint_url``: fetch from this AWS endpoint override (moto, LocalStack) instead of the URL's
    host, keeping the URL's path and query. The caller has already checked the original URL.
    """

    def __init__(self, endpoint_url: str | None = None, timeout: float = FETCH_TIMEOUT) -> None:
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        self.timeout = timeout
        self.context = ssl.create_default_context()

    def _get(self, url: str, limit: int) -> bytes:
        region = sns_host_region(url) or "us-east-1"
        headers = {"User-Agent": "postgate-ses"}
        if self.endpoint_url:
            parts = urllib.parse.urlsplit(url)
            url = self.endpoint_url + parts.path + (f"?{parts.query}" if parts.query else "")
            headers["Authorization"] = MOTO_SNS_AUTH.format(region=region)
        req = urllib.request.Request(url, headers=headers)
        context = self.context if url.startswith("https:") else None
        with urllib.request.urlopen(req, timeout=self.timeout, context=context) as response:
            data = response.read(limit + 1)
        if len(data) > limit:
            raise SnsRejected(f"{url} answered more than {limit} bytes")
        return data

    def certificate(self, url: str) -> bytes:
        if not trusted_sns_url(url, pem=True):
            raise SnsRejected(f"untrusted certificate URL {url!r}")
        return self._get(url, MAX_CERT_BYTES)

    def confirm(self, url: str) -> None:
        if not trusted_sns_url(url):
            raise SnsRejected(f"untrusted SubscribeURL {url!r}")
        self._get(url, MAX_BODY)


class SnsVerifier:
    """Checks that an SNS document is genuine and for an allowed topic (module docstring)."""

    def __init__(self, topic_arns: list[str], fetcher: Any, max_age_seconds: float,
                 clock_skew_seconds: float = 300.0) -> None:
        self.topic_arns = frozenset(topic_arns)
        self.fetcher = fetcher
        self.max_age_seconds = max_age_seconds
        self.clock_skew_seconds = clock_skew_seconds
        self._certs: OrderedDict[str, x509.Certificate] = OrderedDict()

    async def certificate(self, url: str) -> x509.Certificate:
        cert = self._certs.get(url)
        if cert is not None:
            self._certs.move_to_end(url)
            return cert
        try:
            pem = await asyncio.to_thread(self.fetcher.certificate, url)
        except SnsRejected:
            raise
        except Exception as exc:  # noqa: BLE001 - any fetch failure means "cannot verify"
            raise SnsRejected(f"could not fetch the signing certificate {url}: {exc}") from None
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise SnsRejected(f"{url} is not a PEM certificate") from None
        self._certs[url] = cert
        while len(self._certs) > CERT_CACHE_SIZE:
            self._certs.popitem(last=False)
        return cert

    def check(self, envelope: Any, now: datetime | None = None) -> None:
        """The checks that cost no request (:func:`check_envelope`)."""
        check_envelope(envelope, self.topic_arns, max_age=self.max_age_seconds,
                       max_skew=self.clock_skew_seconds, now=now or datetime.now(timezone.utc))

    async def verify(self, envelope: Any, now: datetime | None = None) -> None:
        now = now or datetime.now(timezone.utc)
        self.check(envelope, now)
        cert = await self.certificate(envelope["SigningCertURL"])
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            raise SnsRejected("the signing certificate is not valid now")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsRejected("the signing certificate has no RSA key")
        try:
            key.verify(signature_bytes(envelope["Signature"]), string_to_sign(envelope), padding.PKCS1v15(),
                       HASHES[envelope["SignatureVersion"]]())
        except (InvalidSignature, ValueError):
            raise SnsRejected("bad signature") from None


def _refuse(status: int, reason: str, envelope: Any = None) -> Response:
    envelope = envelope if isinstance(envelope, dict) else {}
    log.warning("SNS POST from %s refused (%d): %s [type=%.80r topic=%.200r message-id=%.80r]", request.remote_addr,
                status, without_tokens(reason), envelope.get("Type"), envelope.get("TopicArn"),
                envelope.get("MessageId"))
    response = jsonify({"message": reason if status != 403 else "Forbidden"})
    response.status_code = status
    return response


def _retry_later(message: str) -> Response:
    """503 + ``Retry-After``: SNS retries 5xx answers only (not a crash: a genuine event that
    cannot be stored yet)."""
    response = jsonify({"message": message})
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def sns_blueprint(gateway: Any, *, fetcher: Any = None, name: str = "ses_sns") -> Blueprint:
    """The ``POST /ses/sns`` blueprint. ``fetcher``: an object with ``certificate(url) -> bytes``
    and ``confirm(url)`` (blocking; default :class:`SnsFetcher`)."""
    settings = gateway.plugin_settings("ses")
    fetcher = fetcher or SnsFetcher(settings.endpoint_url)
    verifier = SnsVerifier(list(settings.sns_topic_arns), fetcher, settings.sns_max_age_seconds,
                           settings.sns_clock_skew_seconds)
    mapper = EventMapper(gateway)
    blueprint = Blueprint(name, __name__)
    if not settings.sns_topic_arns:
        log.warning("POST /ses/sns is served but [plugins.ses] sns_topic_arns is empty: every message is refused")

    @blueprint.post("/ses/sns")
    async def receive() -> Response:
        if (request.content_length or 0) > MAX_BODY:
            return _refuse(413, "body too large")
        body = await request.get_data(cache=False)
        if len(body) > MAX_BODY:
            return _refuse(413, "body too large")
        try:
            envelope = load_json(body)
        except UnsafeJson as exc:
            return _refuse(400, str(exc))
        try:
            await verifier.verify(envelope)
        except SnsRejected as exc:
            return _refuse(exc.status, str(exc), envelope)
        kind = envelope["Type"]
        if kind == "SubscriptionConfirmation":
            return await _confirm(envelope)
        if kind == "UnsubscribeConfirmation":
            log.warning("SNS says the subscription of %s to %s was removed: no more pushed SES events",
                        request.url, envelope.get("TopicArn"))
            return jsonify({"message": "ok"})
        return await _notification(envelope)

    async def _confirm(envelope: dict[str, Any]) -> Response:
        url = envelope["SubscribeURL"]  # checked by the verifier (host, region, topic)
        try:
            await asyncio.to_thread(fetcher.confirm, url)
        except Exception as exc:  # noqa: BLE001 - SNS sends the confirmation again after a 5xx
            log.error("confirming the SNS subscription to %s failed: %s", envelope.get("TopicArn"),
                      without_tokens(str(exc)))
            return _retry_later("confirmation failed; retry later")
        log.info("confirmed the SNS subscription to %s", envelope.get("TopicArn"))
        return jsonify({"message": "subscription confirmed"})

    async def _notification(envelope: dict[str, Any]) -> Response:
        try:
            record = parse_body(envelope)
        except MalformedRecord as exc:
            log.warning("SNS notification %s is not an SES event (%s); dropped: %s", envelope.get("MessageId"),
                        exc, str(envelope.get("Message"))[:LOGGED_BODY_CHARS])
            return jsonify({"message": "ignored"})
        if record is None:
            return jsonify({"message": "ignored"})
        try:
            outcome = (await mapper.map([record]))[0]
            if outcome.status != "unmatched" and outcome.events:
                await gateway.record_events(outcome.events)
        except Exception:  # noqa: BLE001 - storage trouble: SNS retries a 5xx
            log.exception("SNS notification %s: %s could not be stored; answered 503 so SNS retries: %s",
                          envelope.get("MessageId"), record.summary(), envelope["Message"][:LOGGED_BODY_CHARS])
            return _retry_later("could not store the event; retry later")
        if outcome.status == "unmatched":
            log.warning("SNS notification %s: %s has no ledger row yet (%s); answered 503 so SNS retries: %s",
                        envelope.get("MessageId"), record.summary(), outcome.note,
                        envelope["Message"][:LOGGED_BODY_CHARS])
            return _retry_later("message not known yet; retry later")
        return jsonify({"message": "ok"})

    return blueprint
