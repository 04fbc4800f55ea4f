"""The ``ses`` delivery backend: SESv2 ``SendEmail`` with Raw MIME, one recipient per call.

Postgate renders every recipient's message itself (exact Mailgun substitution, per-recipient
``List-Unsubscribe`` and ``List-Unsubscribe-Post``, ``Reply-To``, ``Sender``, custom headers,
attachments); this backend checks the MIME against SES's rules and hands it to SES unchanged:

- ``FromEmailAddress`` = the envelope sender, ``Destination.ToAddresses`` = the one recipient
  (IDN domains in punycode), ``Content.Raw.Data`` = the rendered message;
- ``ConfigurationSetName`` = ``[plugins.ses] configuration_set`` (the set that publishes events);
- ``EmailTags`` ``pg_batch`` (batch id), ``pg_rcpt`` (ledger row id) and ``pg_domain`` (the
  sending domain with ``.`` written as ``_``): every SES event carries them in ``mail.tags``, so
  the event source finds the ledger row even before the send's answer was recorded;
- ``ConfigurationOverrides.Tracking`` from ``o:tracking-opens`` / ``o:tracking-clicks`` when the
  installed botocore model has it (``tracking_overrides`` turns it off).

With ``send_client = "http"`` (the default) every call is one signed HTTP request on the event
loop (:mod:`.http_send`, at most ``send_in_flight`` in flight: 4 x ``send_threads`` by default);
with ``"boto3"`` it is boto3's ``send_email`` in a bounded thread pool (``send_threads``). Neither
retries: the ledger owns retries. Outcomes (see ``docs/aws-ses-delivery.md`` for the table of
Mailgun codes):

- accepted → ``sent`` with SES's ``MessageId`` as the provider id;
- ``MessageRejected``, ``BadRequestException`` (and moto's ``InvalidParameterValue``), or a
  message that breaks SES's rules before any call → permanent ``failed``;
- ``TooManyRequestsException`` "Maximum sending rate exceeded" → temporary ``failed``, and the
  rate is halved (AIMD; won back additively);
- "Daily message quota exceeded" → temporary ``failed`` and sending pauses until the quota
  allows (``quota_retry_seconds``, then ``GetAccount`` is asked again);
- ``SendingPausedException``, ``AccountSuspendedException`` and configuration errors (missing
  configuration set, unverified MAIL FROM, bad credentials) → temporary ``failed``; sending
  stops for ``paused_retry_seconds`` and :meth:`SesDelivery.check` reports it, so
  ``/health/ready`` answers 503;
- a read timeout, a dropped connection or a 5xx → outcome ``unknown``: SES may have taken the
  message. The row stays leased and comes back *in doubt*; :meth:`SesDelivery.settle` resolves it
  from SES events (the event source records SES's message id on the row from the ``Send``
  event). When no event at all arrived within ``in_doubt_grace_seconds``: with the ``ses`` event
  source configured, SES did not take it (``unsent``: sent again, no event); without one nobody
  can tell (``unknown``), and ``gateway.in_doubt`` decides (``hold``, the default: recorded as
  sent, never sent twice; ``resend``).

Answers stream: :meth:`SesDelivery.send_each` marks each message dispatched right before its
``SendEmail`` and hands its answer to the worker as soon as it arrives, with at most
``send_in_flight`` calls in flight per process, so a crash leaves at most that many rows in doubt.

Rate: :attr:`SesDelivery.max_rate` feeds the worker's sliding send window, which every worker of every
process shares through storage. It is ``max_send_rate`` when configured, else ``rate_fraction`` x
``MaxSendRate`` from ``GetAccount`` (SES v1 ``GetSendQuota`` where ``GetAccount`` is missing, as
in moto), read again every ``quota_refresh_seconds``, times the AIMD factor.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from postgate import AccountStatus, Delivery, DeliveryResult, OutcomeSink, Quota, Recipient, RenderedMessage
from postgate.blocking import BlockingPool

from . import aws
from .http_send import HttpSendClient, SesAnswerError
from .raw_base64 import Base64Parts
from .setup_checks import DomainChecker

if TYPE_CHECKING:
    from postgate import Gateway

    from .settings import SesSettings

log = logging.getLogger("postgate.ses.delivery")

#: Rate used until SES's own has been read (the sandbox's 1 message per second).
FALLBACK_RATE = 1.0
#: The rate never drops below this many messages per second, however often SES throttles.
MIN_RATE = 0.05
#: How old a quota reading may be when :meth:`SesDelivery.check` runs.
CHECK_MAX_AGE = 30.0
#: Message size limit of the v2 API, after base64.
MAX_MESSAGE_BYTES = 40 * 1024 * 1024
#: Longest line SES accepts in Raw MIME, without its CRLF (RFC 5321: 1000 with it).
MAX_LINE = 998

#: Fields that may appear at most once in a message's header (SES "header fields", RFC 5322).
ONCE_ONLY = frozenset(name.lower() for name in (
    "Accept-Language", "acceptLanguage", "Archived-At", "Auto-Submitted", "Bounces-to", "Comments",
    "Content-Alternative", "Content-Base", "Content-Class", "Content-Description", "Content-Disposition",
    "Content-Duration", "Content-ID", "Content-Language", "Content-Length", "Content-Location",
    "Content-MD5", "Content-Transfer-Encoding", "Content-Type", "Date", "Delivered-To",
    "Disposition-Notification-Options", "Disposition-Notification-To", "DKIM-Signature",
    "DomainKey-Signature", "Errors-To", "From", "Importance", "In-Reply-To", "Keywords", "List-Archive",
    "List-Help", "List-Id", "List-Owner", "List-Post", "List-Subscribe", "List-Unsubscribe",
    "List-Unsubscribe-Post", "Message-Context", "Message-ID", "MIME-Version", "Organization",
    "Original-From", "Original-Message-ID", "Original-Recipient", "Original-Subject", "Precedence",
    "Priority", "References", "Reply-To", "Return-Path", "Return-Receipt-To", "Sender", "Solicitation",
    "Sensitivity", "Subject", "Thread-Index", "Thread-Topic", "User-Agent", "VBR-Info",
    "To", "Cc", "Bcc",
))

_HEADER_NAME = re.compile(rb"^[!-9;-~]+$")
_TAG_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

# -- outcomes ----------------------------------------------------------------------------------

VerdictKind = Literal["sent", "permanent", "temporary", "throttled", "quota", "paused", "config", "unknown"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one SES answer means for one recipient, before it becomes a :class:`DeliveryResult`.

    ``throttled``, ``quota``, ``paused`` and ``config`` are temporary failures that also change
    the backend's state (rate, pause); ``unknown`` means SES may have accepted the message.
    """

    kind: VerdictKind
    message: str = ""
    code: int | None = None
    enhanced: str = ""
    provider_id: str | None = None
    pause: str = ""  # for "paused": "sending-paused" or "suspended"


#: Mailgun-style codes per verdict kind (``code``, ``enhanced``, Mailgun ``reason``).
CODES: dict[str, tuple[int, str, str]] = {
    "permanent": (550, "5.7.1", "generic"),  # MessageRejected; input errors pick their own below
    "temporary": (451, "4.3.0", "generic"),
    "throttled": (421, "4.7.0", "generic"),
    "quota": (421, "4.7.0", "generic"),
    "paused": (451, "4.3.2", "generic"),
    "config": (451, "4.3.5", "generic"),
}

THROTTLE_CODES = frozenset({"TooManyRequestsException", "Throttling", "ThrottlingException"})
PAUSED_CODES = frozenset({"SendingPausedException", "AccountSendingPausedException",
                          "ConfigurationSetSendingPausedException"})
REJECTED_CODES = frozenset({"MessageRejected"})
INPUT_CODES = frozenset({"BadRequestException", "InvalidParameterValue", "InvalidParameterValueException",
                         "ValidationException", "SerializationException"})
CONFIG_CODES = frozenset({
    "MailFromDomainNotVerifiedException", "NotFoundException", "ConfigurationSetDoesNotExist",
    "ConfigurationSetDoesNotExistException", "TemplateDoesNotExist", "LimitExceededException",
    "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidClientTokenId",
    "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException", "IncompleteSignature",
    "MissingAuthenticationToken", "InvalidSignatureException", "UnknownOperationException",
})


def classify_error(exc: BaseException, operation: str = "SendEmail") -> Verdict:
    """Map an exception raised by a send call, through boto3 or :mod:`.http_send`, to a
    :class:`Verdict` (pure; see the module doc)."""
    from botocore import exceptions as bx

    if isinstance(exc, SesAnswerError):
        return classify_answer(exc.code, exc.message, exc.status, operation)
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError)) or _never_sent(exc):
        # The connection was never made: SES cannot have seen the request.
        return Verdict("temporary", f"SES unreachable: {type(exc).__name__}: {exc}")
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return Verdict("config", f"no usable AWS credentials: {exc}")
    if isinstance(exc, bx.ParamValidationError):
        return Verdict("permanent", f"SES {operation} parameters invalid: {exc}", 550, "5.6.0")
    if isinstance(exc, bx.ClientError):
        return classify_answer(*aws.error_code(exc), operation)
    if isinstance(exc, (bx.ReadTimeoutError, bx.HTTPClientError)) or _transport_error(exc):
        # Sent, but no (complete) answer: a read timeout or a connection dropped mid-call.
        return Verdict("unknown", f"no answer from SES ({type(exc).__name__}: {exc}); it may have taken the message")
    return Verdict("unknown", f"{type(exc).__name__}: {exc}")


def classify_answer(code: str, message: str, status: int, operation: str = "SendEmail") -> Verdict:
    """Map SES's error answer (code, message, HTTP status) to a :class:`Verdict` (pure)."""
    text = f"SES {code or status}: {message}".strip()
    if status >= 500:
        return Verdict("unknown", f"SES answered HTTP {status} ({code}: {message}); it may have taken the message")
    if code in THROTTLE_CODES or status == 429:
        lowered = message.lower()
        if "daily" in lowered or "quota" in lowered:
            return Verdict("quota", text)
        return Verdict("throttled", text)
    if code in PAUSED_CODES:
        return Verdict("paused", text, pause="sending-paused")
    if code == "AccountSuspendedException":
        return Verdict("paused", text, pause="suspended")
    if code in REJECTED_CODES:
        return Verdict("permanent", text, 550, "5.7.1")
    if code in INPUT_CODES:
        if re.search(r"address|domain|recipient|mailbox", message, re.IGNORECASE):
            return Verdict("permanent", text, 553, "5.1.3")
        return Verdict("permanent", text, 550, "5.6.0")
    if code in CONFIG_CODES or status in (401, 403, 404):
        if status == 404 and (not code or code == "404"):
            # No AWS error at all: the endpoint does not know the operation (moto: SendBulkEmail).
            return Verdict("config", f"SES {operation} is not available at this endpoint (HTTP 404)")
        return Verdict("config", text)
    return Verdict("temporary", text)


def _never_sent(exc: BaseException) -> bool:
    """An aiohttp failure before any byte of the request left: the connection was never made."""
    import aiohttp

    return isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError))


def _transport_error(exc: BaseException) -> bool:
    """Any other aiohttp failure or a read timeout: the request may have reached SES."""
    import aiohttp

    return isinstance(exc, (aiohttp.ClientError, TimeoutError))


def verdict_result(recipient_id: int, verdict: Verdict) -> DeliveryResult:
    """The :class:`DeliveryResult` of a verdict (pure)."""
    if verdict.kind == "sent":
        return DeliveryResult(recipient_id, "sent", provider_id=verdict.provider_id,
                              message=verdict.message or "Accepted by SES")
    if verdict.kind == "unknown":
        return DeliveryResult(recipient_id, "unknown", message=verdict.message)
    code, enhanced, reason = CODES[verdict.kind]
    return DeliveryResult(
        recipient_id, "failed", permanent=verdict.kind == "permanent",
        code=verdict.code or code, enhanced_code=verdict.enhanced or enhanced,
        message=verdict.message, reason=reason, provider_id=verdict.provider_id,
    )


# -- message checks ------------------------------------------------------------------------------


def has_long_line(raw: bytes) -> bool:
    """Whether a line of ``raw`` (split at LF) holds more than ``MAX_LINE + 1`` bytes (its CR
    counted): from each line start, jump to the last LF within reach, so a 75 KB message takes
    about a hundred ``rfind`` calls instead of a list of its lines."""
    reach, pos, size = MAX_LINE + 2, 0, len(raw)
    while size - pos > MAX_LINE + 1:
        newline = raw.rfind(b"\n", pos, pos + reach)
        if newline < 0:
            return True
        pos = newline + 1
    return False


def check_raw(raw: bytes) -> str | None:
    """Why SES would refuse this Raw MIME, or ``None``: size, line length, header syntax, and
    fields that may appear only once."""
    if math.ceil(len(raw) / 3) * 4 > MAX_MESSAGE_BYTES:
        return f"message is {len(raw)} bytes; SES accepts at most 40 MB after base64"
    end = raw.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end, sep = raw.find(b"\n\n"), 2
    if end < 0:
        return "no blank line between header and body"
    if has_long_line(raw):
        for number, line in enumerate(raw.split(b"\n"), 1):
            length = len(line.rstrip(b"\r"))
            if length > MAX_LINE:
                return f"line {number} is {length} characters long; SES allows {MAX_LINE} plus CRLF"
    header = raw[:end + sep // 2]
    if not header.isascii():
        return "the header has non-ASCII characters (they must be RFC 2047 encoded)"
    seen: dict[str, int] = {}
    for line in header.splitlines():
        if not line or line[:1] in (b" ", b"\t"):
            continue
        name, colon, _ = line.partition(b":")
        if not colon or not _HEADER_NAME.match(name):
            return f"malformed header line {line[:60]!r}"
        key = name.decode("ascii").lower()
        seen[key] = seen.get(key, 0) + 1
    twice = sorted(k for k, n in seen.items() if n > 1 and k in ONCE_ONLY)
    if twice:
        return f"header field {twice[0]!r} appears {seen[twice[0]]} times; SES allows it once"
    return None


def ses_address(address: str) -> str:
    """``address`` as SES accepts it: 7-bit local part, punycode domain. Raises ``ValueError``."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{address!r} is not an email address")
    if not local.isascii():
        raise ValueError(f"{address!r}: SES does not support non-ASCII local parts (SMTPUTF8)")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"{address!r}: the domain cannot be encoded for SES ({exc})") from None
    return f"{local}@{domain}"


def email_tags(message: RenderedMessage) -> list[dict[str, str]]:
    """``pg_batch``, ``pg_rcpt`` and (when representable) ``pg_domain`` for one message."""
    tags = [{"Name": "pg_batch", "Value": str(message.batch_id)},
            {"Name": "pg_rcpt", "Value": str(message.recipient_id)}]
    domain = message.domain.lower().replace(".", "_")
    if _TAG_VALUE.match(domain):
        tags.append({"Name": "pg_domain", "Value": domain})
    return tags


def tracking_overrides(message: RenderedMessage) -> dict[str, Any]:
    """``ConfigurationOverrides`` for ``o:tracking-opens`` / ``o:tracking-clicks``."""
    return {"Tracking": {
        "OpenTrackingEnabled": "ENABLED" if message.tracking_opens else "DISABLED",
        "ClickTrackingEnabled": "ENABLED" if message.tracking_clicks else "DISABLED",
    }}


# -- rate ----------------------------------------------------------------------------------------


class Aimd:
    """Multiplicative decrease on throttling, additive recovery with time.

    ``factor(now)`` is 1.0 until the first throttle; each throttle halves it (at most once per
    ``hold`` seconds, so a burst of throttled calls in flight together counts once, and never
    below ``floor``); it then grows back by ``recovery`` per second.
    """

    def __init__(self, recovery: float, *, floor: float = 1 / 16, hold: float = 1.0) -> None:
        self.recovery = recovery
        self.floor = floor
        self.hold = hold
        self._factor = 1.0
        self._since = 0.0
        self._last_cut = -math.inf
        self.cuts = 0

    def factor(self, now: float) -> float:
        return min(1.0, self._factor + self.recovery * max(0.0, now - self._since))

    def throttled(self, now: float) -> bool:
        """Record a throttle; ``True`` if the factor was cut now."""
        if now - self._last_cut < self.hold:
            return False
        self._factor = max(self.floor, self.factor(now) / 2)
        self._since = self._last_cut = now
        self.cuts += 1
        return True


@dataclass(slots=True)
class AccountQuota:
    """SES's sending quota as last read."""

    max_send_rate: float
    max_24_hour_send: float  # -1: unlimited
    sent_last_24_hours: float
    source: str  # "GetAccount" or "GetSendQuota"
    sending_enabled: bool | None = None
    enforcement_status: str | None = None
    production: bool | None = None

    @property
    def exhausted(self) -> bool:
        return self.max_24_hour_send >= 0 and self.sent_last_24_hours >= self.max_24_hour_send


def read_quota(sesv2: Any, ses_v1: Any) -> AccountQuota:
    """``GetAccount`` (blocking), falling back to v1 ``GetSendQuota`` where the endpoint lacks it."""
    from botocore.exceptions import ClientError

    try:
        account = sesv2.get_account()
    except ClientError as exc:
        code, _, status = aws.error_code(exc)
        if status != 404 and code not in ("UnknownOperationException", "404"):
            raise
        quota = ses_v1.get_send_quota()
        return AccountQuota(float(quota.get("MaxSendRate", 0)), float(quota.get("Max24HourSend", -1)),
                     float(quota.get("SentLast24Hours", 0)), "GetSendQuota")
    send = account.get("SendQuota") or {}
    return AccountQuota(
        float(send.get("MaxSendRate", 0)), float(send.get("Max24HourSend", -1)),
        float(send.get("SentLast24Hours", 0)), "GetAccount",
        sending_enabled=account.get("SendingEnabled"),
        enforcement_status=account.get("EnforcementStatus"),
        production=account.get("ProductionAccessEnabled"),
    )


def _get_identity(sesv2: Any, name: str) -> dict[str, Any] | None:
    """``GetEmailIdentity`` (blocking); ``None`` when the identity does not exist."""
    from botocore.exceptions import ClientError

    try:
        return sesv2.get_email_identity(EmailIdentity=name)
    except ClientError as exc:
        if aws.error_code(exc)[0] in ("NotFoundException", "NotFound"):
            return None
        raise


@dataclass(slots=True)
class Pause:
    """Sending is stopped until ``until`` (then SES is tried again)."""

    kind: str  # "sending-paused", "suspended", "daily-quota", "config"
    reason: str
    until: float


class _Held(Exception):
    """A call skipped in its thread because sending paused while it waited for a thread."""


# -- the backend ---------------------------------------------------------------------------------


class SesDelivery(Delivery):
    """Delivery through Amazon SES v2 (see the module documentation)."""

    name = "ses"
    resend_in_doubt = False

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(gateway)
        self.settings: SesSettings = gateway.plugin_settings("ses")
        self.concurrency = self.settings.concurrency
        if self.settings.bulk:
            # The worker splits a chunk into `concurrency` send() calls: keep them ~50 messages
            # long so that each can become one SendBulkEmail.
            self.concurrency = max(1, math.ceil(gateway.settings.gateway.chunk_size / 50))
        self.lease_seconds = float(gateway.settings.gateway.lease_seconds)
        self.aimd = Aimd(self.settings.rate_recovery_per_second)
        self.quota_reading: AccountQuota | None = None
        self.quota_error: str | None = None
        #: Cached answers of the ``domain_checks`` hook.
        self.domain_checker = DomainChecker()
        self.pause: Pause | None = None
        self.tracking = False
        self.sender: Any = None
        self.reader: Any = None
        self.reader_v1: Any = None
        self._send_pool: BlockingPool | None = None
        self._read_pool: BlockingPool | None = None
        self._quota_read_at = -math.inf
        self._quota_lock = asyncio.Lock()
        self._unanswered: dict[int, float] = {}  # recipient id -> when its unanswered call started
        self._doubt_seen: dict[int, float] = {}  # recipient id -> first claim in doubt seen here
        self._bulk: Any = None
        self._http: HttpSendClient | None = None  # send_client = "http"
        self._base64 = Base64Parts()  # the long pieces of a batch's messages, encoded once
        self._http_slots = asyncio.Semaphore(self.settings.in_flight())
        self._in_flight = asyncio.Semaphore(self.settings.in_flight())
        self.event_source = "ses" in gateway.settings.backends.event_sources

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        self._send_pool = BlockingPool(settings.send_threads, "postgate-ses-send")
        self._read_pool = BlockingPool(2, "postgate-ses-read")
        self.sender = await self._read_pool.run(aws.ses_client, settings, sending=True)
        self.reader = await self._read_pool.run(aws.ses_client, settings)
        self.reader_v1 = await self._read_pool.run(aws.ses_v1_client, settings)
        self.tracking = settings.tracking_overrides and aws.operation_has_member(
            self.sender, "SendEmail", "ConfigurationOverrides", "Tracking")
        if settings.send_client == "http":
            credentials = await self._read_pool.run(aws.credentials)
            self._http = HttpSendClient(self.sender, credentials, connections=settings.in_flight(),
                                        connect_timeout=settings.connect_timeout, read_timeout=settings.send_timeout)
        if settings.bulk:
            from .bulk import BulkSender

            self._bulk = BulkSender(self)
        if not self.event_source:
            policy = self.gateway.settings.gateway.in_doubt
            log.warning("no 'ses' event source is configured: sends whose answer was lost cannot be settled "
                        "from SES events; after in_doubt_grace_seconds (%.0f s) they are %s (gateway.in_doubt = %s)",
                        settings.in_doubt_grace_seconds,
                        "recorded as sent, never sent twice" if policy == "hold" else "sent again", policy)
        await self.refresh_quota(max_age=0)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        for pool in (self._send_pool, self._read_pool):
            if pool is not None:
                pool.shutdown()
        self._send_pool = self._read_pool = None

    async def check(self) -> None:
        """Raise while sending is paused or SES's account cannot be read."""
        self._raise_if_paused()
        await self.refresh_quota(max_age=CHECK_MAX_AGE)
        if self.quota_error:
            raise RuntimeError(self.quota_error)
        self._raise_if_paused()

    def _raise_if_paused(self) -> None:
        pause = self.pause
        if pause is not None and pause.until > time.time():
            raise RuntimeError(f"SES sending is paused ({pause.kind}): {pause.reason}; "
                               f"next attempt in {pause.until - time.time():.0f} s")

    # -- rate and quota ---------------------------------------------------------------------

    @property
    def max_rate(self) -> float:  # type: ignore[override]
        """Messages per second for the shared token bucket (see the module documentation)."""
        base = self.settings.max_send_rate
        if base is None:
            quota = self.quota_reading
            if quota is not None and quota.max_send_rate > 0:
                base = quota.max_send_rate * self.settings.rate_fraction
            else:
                base = FALLBACK_RATE
        return max(MIN_RATE, base * self.aimd.factor(time.time()))

    async def refresh_quota(self, max_age: float | None = None) -> None:
        """Read the quota again if the last reading is older than ``max_age`` seconds."""
        max_age = self.settings.quota_refresh_seconds if max_age is None else max_age
        if self._read_pool is None or time.time() - self._quota_read_at < max_age:
            return
        async with self._quota_lock:
            if time.time() - self._quota_read_at < max_age:
                return
            try:
                quota = await self._read_pool.run(read_quota, self.reader, self.reader_v1)
            except Exception as exc:  # noqa: BLE001 - reported by check(); sending goes on
                self.quota_error = f"reading the SES quota failed: {type(exc).__name__}: {exc}"
                self._quota_read_at = time.time()
                log.warning("%s", self.quota_error)
                return
            self._quota_read_at = time.time()
            self.quota_reading, self.quota_error = quota, None
        log.debug("SES quota (%s): %.1f/s, %.0f of %.0f sent in 24 h", quota.source, quota.max_send_rate,
                  quota.sent_last_24_hours, quota.max_24_hour_send)
        self._account_state(quota)

    async def quota(self) -> Quota | None:
        """The last ``GetAccount`` reading (read again, off the event loop, only once it is older
        than ``quota_refresh_seconds``), in GetAccount's figures."""
        await self.refresh_quota()
        reading = self.quota_reading
        if reading is None:
            return None
        unlimited = reading.max_24_hour_send < 0
        return Quota(
            max_24h=None if unlimited else reading.max_24_hour_send,
            sent_24h=reading.sent_last_24_hours,
            max_rate=reading.max_send_rate or None,
            source=reading.source,
        )

    async def account_status(self) -> AccountStatus | None:
        """``GetAccount``'s sending-enabled, enforcement status and production access, from the
        same cached reading as :meth:`quota` (``None`` when only ``GetSendQuota`` answered)."""
        await self.refresh_quota()
        reading = self.quota_reading
        if reading is None or reading.source != "GetAccount":
            return None
        return AccountStatus(source=reading.source, sending_enabled=reading.sending_enabled,
                             enforcement_status=reading.enforcement_status, production=reading.production,
                             read_at=self._quota_read_at)

    async def read_identity(self, name: str) -> dict[str, Any] | None:
        """``GetEmailIdentity`` for ``name`` on the read pool (off the event loop); ``None`` when
        SES has no such identity."""
        if self._read_pool is None:
            raise RuntimeError("the SES delivery has not started")
        return await self._read_pool.run(_get_identity, self.reader, name)

    def _account_state(self, quota: AccountQuota) -> None:
        """Pause or resume from what the account reports."""
        if quota.enforcement_status == "SHUTDOWN":
            self._pause("suspended", "GetAccount reports EnforcementStatus SHUTDOWN", self.settings.paused_retry_seconds)
        elif quota.sending_enabled is False:
            self._pause("sending-paused", "GetAccount reports SendingEnabled false", self.settings.paused_retry_seconds)
        elif self.pause is not None:
            if self.pause.kind == "daily-quota" and not quota.exhausted:
                self._resume("the daily quota has room again")
            elif self.pause.kind in ("sending-paused", "suspended") and quota.sending_enabled:
                self._resume("GetAccount reports sending enabled")

    def _pause(self, kind: str, reason: str, seconds: float) -> None:
        current = self.pause
        if current is None or current.kind != kind or current.until <= time.time():
            # Postgate's ``oplog`` writes the line (``delivery paused``) from this report.
            self.gateway.report_delivery_state("paused", f"{kind}: {reason}", seconds)
        self.pause = Pause(kind, reason, time.time() + seconds)

    def _resume(self, why: str) -> None:
        if self.pause is not None:
            self.gateway.report_delivery_state("resumed", f"{why} (was paused: {self.pause.kind})")
        self.pause = None

    async def _before_send(self) -> None:
        """Refresh a stale quota; end a pause whose time is up."""
        pause = self.pause
        if pause is not None and pause.until <= time.time():
            if pause.kind == "daily-quota":
                await self.refresh_quota(max_age=0)
                if self.quota_reading is not None and self.quota_reading.exhausted and self.pause is pause:
                    self._pause("daily-quota", pause.reason, self.settings.quota_retry_seconds)
                    return
            if self.pause is pause:
                self._resume("time to try SES again")
        await self.refresh_quota()

    def _held_result(self, recipient_id: int) -> DeliveryResult | None:
        pause = self.pause
        if pause is None or pause.until <= time.time():
            return None
        kind = "quota" if pause.kind == "daily-quota" else "config" if pause.kind == "config" else "paused"
        return verdict_result(recipient_id, Verdict(kind, f"not sent: SES sending is paused ({pause.kind}): {pause.reason}"))

    # -- sending ----------------------------------------------------------------------------

    async def send(self, messages: Sequence[RenderedMessage]) -> list[DeliveryResult]:
        if self._send_pool is None:
            raise RuntimeError("the SES delivery backend is not started")
        await self._before_send()
        if self._bulk is not None:
            return await self._bulk.send(list(messages))
        return list(await asyncio.gather(*(self.send_one(m) for m in messages)))  # type: ignore[arg-type]

    async def send_each(self, messages: Sequence[RenderedMessage], sink: OutcomeSink) -> None:
        """Like :meth:`send`, answer by answer: each message is marked dispatched right before its
        call and its result handed over as it arrives; at most ``send_in_flight`` are in between."""
        if self._send_pool is None:
            raise RuntimeError("the SES delivery backend is not started")
        await self._before_send()
        if self._bulk is not None:
            await super().send_each(messages, sink)
            return
        try:
            async with asyncio.TaskGroup() as group:  # a failing sink stops the calls not yet made
                for message in messages:
                    group.create_task(self._send_streamed(message, sink))
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None

    async def _send_streamed(self, message: RenderedMessage, sink: OutcomeSink) -> None:
        async with self._in_flight:
            result = await self.send_one(message, dispatching=sink.dispatching)
            if result is not None:
                await sink.result(result)

    def send_params(self, message: RenderedMessage) -> dict[str, Any]:
        """The ``SendEmail`` parameters for one message (raises ``ValueError`` for a bad address)."""
        params: dict[str, Any] = {
            "FromEmailAddress": ses_address(message.envelope_from),
            "Destination": {"ToAddresses": [ses_address(message.recipient)]},
            "Content": {"Raw": {"Data": message.raw}},
            "EmailTags": email_tags(message),
        }
        if self.settings.configuration_set:
            params["ConfigurationSetName"] = self.settings.configuration_set
        if self.tracking:
            params["ConfigurationOverrides"] = tracking_overrides(message)
        return params

    async def send_one(self, message: RenderedMessage, dispatching: Any = None) -> DeliveryResult | None:
        """One ``SendEmail`` call in the send pool, mapped to a result.

        ``dispatching``: awaited with the recipient id right before the call (not for a message
        refused before any call); when it does not clear the id, nothing is sent (``None``)."""
        held = self._held_result(message.recipient_id)
        if held is not None:
            return held
        problem = check_raw(message.raw)
        try:
            params = self.send_params(message)
        except ValueError as exc:
            return verdict_result(message.recipient_id, Verdict("permanent", f"not sent: {exc}", 553, "5.1.3"))
        if problem is not None:
            return verdict_result(message.recipient_id,
                                  Verdict("permanent", f"not sent: SES would refuse it: {problem}", 550, "5.6.0"))
        if dispatching is not None and message.recipient_id not in await dispatching([message.recipient_id]):
            return None  # another worker took the row over: not ours to send
        started = time.time()
        try:
            if self._http is not None:
                message_id = await self._send_http(params, self._base64.encode(message.raw, message.parts))
            else:
                assert self._send_pool is not None
                message_id = (await self._send_pool.run(self._call, self.sender.send_email, params))["MessageId"]
        except _Held:
            return self._held_result(message.recipient_id) or verdict_result(
                message.recipient_id, Verdict("temporary", "not sent: SES sending was paused"))
        except Exception as exc:  # noqa: BLE001 - every failure maps to an outcome
            return self.outcome(message.recipient_id, classify_error(exc), started=started)
        return verdict_result(message.recipient_id, Verdict("sent", provider_id=message_id))

    async def _send_http(self, params: dict[str, Any], data: bytes) -> str:
        """One ``SendEmail`` on the event loop, at most ``send_in_flight`` in flight (``data``: the
        message in base64)."""
        assert self._http is not None
        async with self._http_slots:
            self._raise_if_held()
            return await self._http.send_email(params, data)

    def _raise_if_held(self) -> None:
        pause = self.pause
        if pause is not None and pause.until > time.time():
            raise _Held(pause.kind)

    def _call(self, fn: Any, params: dict[str, Any]) -> Any:
        """Runs in a send thread: skip the call if sending paused while it queued for a thread."""
        self._raise_if_held()
        return fn(**params)

    def outcome(self, recipient_id: int, verdict: Verdict, started: float | None = None) -> DeliveryResult:
        """Apply a verdict's effect on the backend (rate, pause) and return its result.

        ``started``: when the call began (for an ``unknown`` outcome, the start of the doubt).
        """
        if verdict.kind == "unknown":
            self._unanswered[recipient_id] = time.time() if started is None else started
        elif verdict.kind == "throttled":
            if self.aimd.throttled(time.time()):
                self.gateway.report_delivery_state("throttled", f"{verdict.message}; rate lowered to "
                                                   f"{self.max_rate:.2f}/s")
        elif verdict.kind == "quota":
            self._pause("daily-quota", verdict.message, self.settings.quota_retry_seconds)
        elif verdict.kind == "paused":
            self._pause(verdict.pause or "sending-paused", verdict.message, self.settings.paused_retry_seconds)
        elif verdict.kind == "config":
            self._pause("config", verdict.message, self.settings.paused_retry_seconds)
        return verdict_result(recipient_id, verdict)

    # -- in doubt ---------------------------------------------------------------------------

    async def settle(self, recipients: Sequence[Recipient]) -> dict[int, DeliveryResult]:
        """Settle rows whose send got no answer.

        A row with a provider id (written by the SES event source from a ``Send``, ``Delivery``,
        ``Bounce``… event tagged with its ``pg_rcpt``) was accepted: ``sent``. A row without one
        whose unanswered call is older than ``in_doubt_grace_seconds``: with the ``ses`` event
        source configured, SES would have published its ``Send`` event by then, so it was not
        accepted (``unsent``: the worker sends it again, no event); without an event source
        nobody can tell (``unknown``: ``gateway.in_doubt`` decides). Others stay in doubt.

        When the call started is known exactly if this process made it; otherwise the first
        time this process saw the row claimed in doubt stands in for it (the row's previous lease
        had expired by then, so the call was older). Another process that sees the row later
        starts its own clock: that only delays the decision, never hastens it.
        """
        now = time.time()
        grace = self.settings.in_doubt_grace_seconds
        settled: dict[int, DeliveryResult] = {}
        for row in recipients:
            if row.provider_id:
                settled[row.id] = DeliveryResult(row.id, "sent", provider_id=row.provider_id,
                                                 message="Accepted by SES (settled from its events)")
                self._forget(row.id)
                continue
            claimed = row.lease_until - self.lease_seconds if row.lease_until is not None else now
            first = self._doubt_seen.setdefault(row.id, claimed)
            started = min(first, self._unanswered.get(row.id, first))
            if now - started >= grace:
                if self.event_source:
                    settled[row.id] = DeliveryResult(
                        row.id, "unsent", message=f"not accepted by SES: no SES event within {grace:.0f} s "
                                                  "of a send that got no answer")
                else:
                    settled[row.id] = DeliveryResult(
                        row.id, "unknown", message=f"no answer from SES within {grace:.0f} s and no event "
                                                   "source to ask")
                self._forget(row.id)
        self._trim()
        return settled

    def _forget(self, recipient_id: int) -> None:
        self._doubt_seen.pop(recipient_id, None)
        self._unanswered.pop(recipient_id, None)

    def _trim(self, limit: int = 100_000) -> None:
        for table in (self._doubt_seen, self._unanswered):
            while len(table) > limit:
                table.pop(next(iter(table)))
