"""``POST /ses/sns``: SES events pushed by an SNS HTTPS subscription (contract §3).

Every POST is checked before it is believed, cheapest check first:

1. the body parses as JSON (whatever the ``Content-Type``; SNS sends ``text/plain``) and names a
   known ``Type``;
2. its ``TopicArn`` is on ``sns_topic_arns`` — checked before any network fetch; an empty list
   refuses everything;
3. ``SigningCertURL`` is ``https://sns.<region>.amazonaws.com[.cn]/….pem`` (parsed hostname, no
   port, no userinfo; region equal to the topic's);
4. the signed ``Timestamp`` is not older than ``sns_max_age_seconds`` (replays);
5. the RSA signature over the canonical string verifies with the certificate (``SignatureVersion``
   1 = SHA-1, 2 = SHA-256); certificates are fetched once per URL and cached.

A refused POST gets 403 and a warning in the log; nothing is stored. Then:

- ``SubscriptionConfirmation``: the (host-checked) ``SubscribeURL`` is fetched to confirm.
- ``Notification``: the SES record is mapped and stored (deduplicated by the event key, see
  :mod:`postgate_ses.mapping`) before answering 200, so an answered event is never lost. A record
  whose ledger row does not exist yet is answered 500 so that SNS retries it under its delivery
  policy (3 retries 20 s apart by default), and logged with its body.
- ``UnsubscribeConfirmation``: logged; the subscription is gone.

The certificate fetcher is injectable (:class:`SnsFetcher`). The default GETs the real URL over
verified HTTPS; with ``endpoint_url`` set (moto, LocalStack) it fetches the same file name from
that endpoint instead, with the dummy SigV4 header moto needs to route the request to SNS. The
host check always runs on the original URL.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
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

log = logging.getLogger("postgate.ses.sns")

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
MESSAGE_TYPES = frozenset({"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"})
HOST_RE = re.compile(r"^sns\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
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
    """A POST that is not a genuine SNS message for an allowed topic."""


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
    if pem and not parts.path.endswith(".pem"):
        return None
    return match.group(1)


def trusted_sns_url(url: str, *, pem: bool = False) -> bool:
    return sns_host_region(url, pem=pem) is not None


def topic_region(topic_arn: str) -> str | None:
    parts = topic_arn.split(":")
    return parts[3] if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "sns" else None


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
    """Checks that an SNS document is genuine and for an allowed topic (module docstring, 2–5)."""

    def __init__(self, topic_arns: list[str], fetcher: Any, max_age_seconds: float) -> None:
        self.topic_arns = frozenset(topic_arns)
        self.fetcher = fetcher
        self.max_age_seconds = max_age_seconds
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

    async def verify(self, envelope: dict[str, Any], now: datetime | None = None) -> None:
        topic = envelope.get("TopicArn")
        if not self.topic_arns:
            raise SnsRejected("no topics are allowed (set [plugins.ses] sns_topic_arns)")
        if topic not in self.topic_arns:
            raise SnsRejected(f"topic {topic!r} is not in sns_topic_arns")
        version = str(envelope.get("SignatureVersion") or "")
        if version not in HASHES:
            raise SnsRejected(f"unsigned or unknown SignatureVersion {version!r}")
        for key in ("Signature", "SigningCertURL", "MessageId", "Timestamp", "Message"):
            if not isinstance(envelope.get(key), str) or not envelope.get(key):
                raise SnsRejected(f"missing {key}")
        url = envelope["SigningCertURL"]
        region = sns_host_region(url, pem=True)
        if region is None:
            raise SnsRejected(f"untrusted SigningCertURL {url!r}")
        if region != topic_region(str(topic)):
            raise SnsRejected(f"SigningCertURL region {region!r} differs from the topic's")
        try:
            stamp = datetime.fromisoformat(envelope["Timestamp"].replace("Z", "+00:00"))
        except ValueError:
            raise SnsRejected(f"bad Timestamp {envelope['Timestamp']!r}") from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        now = now or datetime.now(timezone.utc)
        if (now - stamp).total_seconds() > self.max_age_seconds:
            raise SnsRejected(f"Timestamp {envelope['Timestamp']} is older than {self.max_age_seconds:.0f} s")
        try:
            signature = base64.b64decode(envelope["Signature"], validate=True)
        except (binascii.Error, ValueError):
            raise SnsRejected("Signature is not base64") from None
        cert = await self.certificate(url)
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            raise SnsRejected("the signing certificate is not valid now")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsRejected("the signing certificate has no RSA key")
        try:
            key.verify(signature, string_to_sign(envelope), padding.PKCS1v15(), HASHES[version]())
        except InvalidSignature:
            raise SnsRejected("bad signature") from None


def _refuse(status: int, reason: str, envelope: Any = None) -> Response:
    envelope = envelope if isinstance(envelope, dict) else {}
    log.warning("SNS POST from %s refused (%d): %s [type=%s topic=%s message-id=%s]", request.remote_addr, status,
                reason, envelope.get("Type"), envelope.get("TopicArn"), envelope.get("MessageId"))
    response = jsonify({"message": reason if status != 403 else "Forbidden"})
    response.status_code = status
    return response


def sns_blueprint(gateway: Any, *, fetcher: Any = None, name: str = "ses_sns") -> Blueprint:
    """The ``POST /ses/sns`` blueprint. ``fetcher``: an object with ``certificate(url) -> bytes``
    and ``confirm(url)`` (blocking; default :class:`SnsFetcher`)."""
    settings = gateway.plugin_settings("ses")
    fetcher = fetcher or SnsFetcher(settings.endpoint_url)
    verifier = SnsVerifier(list(settings.sns_topic_arns), fetcher, settings.sns_max_age_seconds)
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
            envelope = json.loads(body)
        except ValueError:
            return _refuse(400, "body is not JSON")
        if not isinstance(envelope, dict) or envelope.get("Type") not in MESSAGE_TYPES:
            return _refuse(400, "not an SNS message", envelope)
        try:
            await verifier.verify(envelope)
        except SnsRejected as exc:
            return _refuse(403, str(exc), envelope)
        kind = envelope["Type"]
        if kind == "SubscriptionConfirmation":
            return await _confirm(envelope)
        if kind == "UnsubscribeConfirmation":
            log.warning("SNS says the subscription of %s to %s was removed: no more pushed SES events",
                        request.url, envelope.get("TopicArn"))
            return jsonify({"message": "ok"})
        return await _notification(envelope)

    async def _confirm(envelope: dict[str, Any]) -> Response:
        url = envelope.get("SubscribeURL")
        if not isinstance(url, str) or not trusted_sns_url(url):
            return _refuse(403, f"untrusted SubscribeURL {url!r}", envelope)
        try:
            await asyncio.to_thread(fetcher.confirm, url)
        except Exception as exc:  # noqa: BLE001 - SNS sends the confirmation again
            log.error("confirming the SNS subscription to %s failed: %s", envelope.get("TopicArn"), exc)
            return _refuse(502, "confirmation failed", envelope)
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
        outcome = (await mapper.map([record]))[0]
        if outcome.status == "unmatched":
            log.warning("SNS notification %s: %s has no ledger row yet (%s); answered 500 so SNS retries: %s",
                        envelope.get("MessageId"), record.summary(), outcome.note,
                        str(envelope.get("Message"))[:LOGGED_BODY_CHARS])
            response = jsonify({"message": "message not known yet; retry later"})
            response.status_code = 500
            return response
        if outcome.events:
            await gateway.record_events(outcome.events)
        return jsonify({"message": "ok"})

    return blueprint
