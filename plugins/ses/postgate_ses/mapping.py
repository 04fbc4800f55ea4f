"""SES event records → Mailgun events (contract: aws-ses-sqs-sns §2, mailgun-api §3.5).

Two steps, both batch-shaped:

1. :func:`parse_body` turns one SQS body or SNS POST body into an :class:`SesRecord`. It accepts
   the SNS envelope (the SES record is the JSON *string* in ``Message``), raw delivery (the body
   is the record), event-publishing records (``eventType``) and identity notifications
   (``notificationType``).
2. :meth:`EventMapper.map` finds the ledger rows of many records with at most one
   ``get_recipients`` and one ``find_recipients`` call (EmailTag ``pg_rcpt`` first, then the SES
   ``mail.messageId``), settles in-doubt rows with one ``record_provider_ids`` call, and builds
   the Mailgun events with the batch's :class:`~postgate.events.EventBuilder`, so they carry the
   batch's tags, the recipient's user variables and the Mailgun message id Ghost stored.

Mapping (contract §2.6):

========================================  ===========================================================
SES                                        Mailgun
========================================  ===========================================================
Send                                       no event; settles the ledger row (provider id, sent)
Delivery                                   delivered, code 250, message ← ``smtpResponse``
Bounce Permanent (General, NoEmail, …)     failed permanent, reason ``bounce``, code/enhanced code
                                           from ``diagnosticCode``/``status`` (default 550); the
                                           built-in listener adds the address to ``bounces``
Bounce Permanent Suppressed /              failed permanent, code 605, reason ``suppress-bounce``
OnAccountSuppressionList                   (SES never tried)
Bounce Undetermined                        failed permanent, reason ``generic`` (not suppressed)
Bounce Transient                           failed temporary, reason ``bounce``; after
                                           ``transient_bounce_threshold`` of them in 30 days the
                                           address goes on ``bounces`` (:func:`transient_suppressions`)
DeliveryDelay                              failed temporary, reason ``generic``
Reject                                     failed permanent, reason ``generic``, code 550
Rendering Failure                          failed permanent, reason ``generic``, code 550
Complaint                                  complained (→ ``complaints``)
Complaint OnAccountSuppressionList         failed permanent, code 607, reason ``suppress-complaint``
Open / Click                               opened / clicked (``url`` ← ``link``)
Subscription opting out                    unsubscribed (→ ``unsubscribes``)
========================================  ===========================================================

Event keys are ``ses:`` + sha256 of (event type, SES message id, the event's own timestamp,
recipient[, link]). The same SES event therefore gets the same key whichever way it arrived (SNS
envelope, raw delivery, HTTPS push) and however often SNS/SQS or SES itself repeated it, so it is
stored once. (An SNS ``MessageId`` would only catch SNS redeliveries, not a second publish.)
"""

from __future__ import annotations


import hashlib
import json
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any, Literal

from postgate.domain import And, Event, EventQuery, Recipient, Suppression, Term
from postgate.events import EventBuilder, EventBuilders
from postgate.suppression_rules import is_whitelisted

from .safejson import MAX_DEPTH, UnsafeJson, depth_exceeds, load_json

log = logging.getLogger("postgate.ses.events")

#: Key of the per-event object in a record, by event type.
OBJECT_KEYS = {
    "Send": "send",
    "Delivery": "delivery",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Reject": "reject",
    "Rendering Failure": "failure",
    "DeliveryDelay": "deliveryDelay",
    "Open": "open",
    "Click": "click",
    "Subscription": "subscription",
}

#: Where a record lists its recipients (``(list key, address key)``), by event type.
RECIPIENT_LISTS = {
    "Delivery": ("recipients", None),
    "Bounce": ("bouncedRecipients", "emailAddress"),
    "Complaint": ("complainedRecipients", "emailAddress"),
    "DeliveryDelay": ("delayedRecipients", "emailAddress"),
}

#: SNS messages that are not SES events and are acknowledged without a trace beyond a debug log.
IGNORED_NOTIFICATIONS = frozenset({"AmazonSnsSubscriptionSucceeded", "Received"})

KEY_PREFIX = "ses:"
TRANSIENT_WINDOW_SECONDS = 30 * 86400
SMTP_CODE = re.compile(r"^\s*([2-5]\d\d)\b")
ENHANCED_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
SUPPRESSED_SUBTYPES = frozenset({"suppressed", "onaccountsuppressionlist"})
DEFAULT_CACHE_SIZE = 64

Status = Literal["handled", "ignored", "unmatched"]


#: JSON types of the record fields the mapper reads (``mail.*`` first), checked by :func:`parse_body`
#: so that a record of the wrong shape is refused as malformed instead of failing mid-mapping.
RECORD_TYPES: dict[str, type | tuple[type, ...]] = {
    "tags": dict, "destination": list, "timestamp": str,
    **{key: dict for key in OBJECT_KEYS.values()},
}
MAIL_KEYS = frozenset({"tags", "destination", "timestamp"})
#: SNS and SQS carry at most 1 MiB; an SES record is a few KB.
MAX_RECORD_BYTES = 1024 * 1024


class MalformedRecord(ValueError):
    """A body that is neither an SNS envelope nor an SES record: retrying cannot help."""


@dataclass(slots=True)
class SesRecord:
    """One SES event record and where it came from. What the mapper reads more than once (the
    SES message id, the per-event object, the ledger tags) is read once, when it is made."""

    kind: str  # eventType / notificationType ("Bounce", "Rendering Failure", …)
    record: dict[str, Any]
    mail: dict[str, Any]
    sns_message_id: str | None = None
    topic_arn: str | None = None
    #: ``mail.messageId`` as text ("" if absent).
    ses_message_id: str = field(init=False)
    #: The per-event object (``bounce``, ``delivery``, ``failure``…), ``{}`` if absent.
    detail: dict[str, Any] = field(init=False)
    #: The ledger id in EmailTag ``pg_rcpt`` (``"123"``; ``"<batch>-123"`` is tolerated).
    rcpt_id: int | None = field(init=False)
    #: The batch id in EmailTag ``pg_batch``.
    batch_tag: int | None = field(init=False)
    #: EmailTag ``pg_domain`` (the domain with ``.`` as ``_``).
    domain_tag: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.ses_message_id = str(self.mail.get("messageId") or "")
        detail = self.record.get(OBJECT_KEYS.get(self.kind, ""), {})
        self.detail = detail if isinstance(detail, dict) else {}
        self.rcpt_id = _ledger_id(self.tag("pg_rcpt"))
        self.batch_tag = _ledger_id(self.tag("pg_batch"), allow_suffix=False)
        self.domain_tag = self.tag("pg_domain")

    def tag(self, name: str) -> str | None:
        tags = self.mail.get("tags")
        if not isinstance(tags, dict):
            return None
        value = tags.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        return str(value).strip() if value not in (None, "") else None

    @property
    def timestamp(self) -> str:
        """The event's own timestamp (``mail.timestamp`` for types that have none)."""
        return str(self.detail.get("timestamp") or self.mail.get("timestamp") or "")

    def summary(self) -> str:
        return (f"{self.kind} ses-id={self.ses_message_id or '-'} pg_rcpt={self.tag('pg_rcpt') or '-'} "
                f"sns-id={self.sns_message_id or '-'}")


def _ledger_id(value: str | None, allow_suffix: bool = True) -> int | None:
    if not value:
        return None
    if value.isdigit():
        return int(value)
    if allow_suffix:
        tail = value.rpartition("-")[2]
        if tail.isdigit():
            return int(tail)
    return None


def parse_body(body: str | bytes | dict[str, Any]) -> SesRecord | None:
    """Parse an SQS body / SNS document. ``None``: a well-formed message that carries no SES event
    (subscription confirmations on a queue, SNS test messages). Raises :class:`MalformedRecord`."""
    parsed_from: Any = None  # the document load_json made (its depth is checked)
    if isinstance(body, dict):
        doc: Any = body
    else:
        try:
            doc = parsed_from = load_json(body, max_bytes=MAX_RECORD_BYTES)
        except UnsafeJson as exc:
            raise MalformedRecord(str(exc)) from None
    if not isinstance(doc, dict):
        raise MalformedRecord("body is not a JSON object")
    sns_id = topic = None
    kind_of_doc = doc.get("Type")
    if isinstance(kind_of_doc, str) and "TopicArn" in doc:
        if kind_of_doc in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
            return None
        if kind_of_doc != "Notification" or "Message" not in doc:
            raise MalformedRecord(f"unexpected SNS document type {kind_of_doc!r}")
        sns_id, topic = doc.get("MessageId"), doc.get("TopicArn")
        message = doc["Message"]
        if isinstance(message, str):
            try:
                doc = parsed_from = load_json(message, max_bytes=MAX_RECORD_BYTES)
            except UnsafeJson as exc:
                raise MalformedRecord(f"SNS Message: {exc}") from None
        else:
            doc = message
        if not isinstance(doc, dict):
            raise MalformedRecord("SNS Message is not a JSON object")
    kind = doc.get("eventType") or doc.get("notificationType")
    if not isinstance(kind, str) or not kind:
        raise MalformedRecord("no eventType or notificationType")
    if kind in IGNORED_NOTIFICATIONS:
        return None
    mail = doc.get("mail")
    if not isinstance(mail, dict) or not isinstance(mail.get("messageId"), str) or not mail["messageId"]:
        raise MalformedRecord(f"{kind} record without a mail.messageId string")
    if parsed_from is not doc and depth_exceeds(doc, MAX_DEPTH):  # load_json checked parsed text
        raise MalformedRecord(f"{kind} record nested deeper than {MAX_DEPTH} levels")
    for key, expected in RECORD_TYPES.items():
        value = mail.get(key) if key in MAIL_KEYS else doc.get(key)
        if value is not None and not isinstance(value, expected):
            raise MalformedRecord(f"{kind} record: {key} is a {type(value).__name__}")
    list_key = RECIPIENT_LISTS.get(kind, (None, None))[0]
    detail = doc.get(OBJECT_KEYS.get(kind, ""))
    if list_key and isinstance(detail, dict) and not isinstance(detail.get(list_key, []), list):
        raise MalformedRecord(f"{kind} record: {list_key} is not a list")
    return SesRecord(kind=kind, record=doc, mail=mail, sns_message_id=sns_id, topic_arn=topic)


def event_key(kind: str, ses_message_id: str, timestamp: str, recipient: str, extra: str = "") -> str:
    text = "|".join((kind, ses_message_id, timestamp, recipient.strip().lower(), extra))
    return KEY_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


def smtp_details(diagnostic: Any, status: Any) -> tuple[int | None, str, str]:
    """``(code, enhanced code, message)`` from ``diagnosticCode`` (``smtp; 550 5.1.1 …``) and the
    DSN ``status``."""
    text = str(diagnostic or "").strip()
    if text.lower().startswith("smtp;"):
        text = text[5:].strip()
    match = SMTP_CODE.match(text)
    code = int(match.group(1)) if match else None
    enhanced = str(status or "").strip()
    if not ENHANCED_CODE.fullmatch(enhanced):
        found = ENHANCED_CODE.search(text)
        enhanced = found.group(1) if found else ""
    return code, enhanced, text


#: An address with none of these is already bare: ``parseaddr`` would return it unchanged.
ADDRESS_SYNTAX = re.compile(r"[\s<>()\"',;:\[\]\\]")


def _bare(address: Any) -> str:
    text = str(address or "")
    if not ADDRESS_SYNTAX.search(text):
        return text.lower()
    return (parseaddr(text)[1] or text).strip().lower()


@dataclass(slots=True)
class Outcome:
    """What mapping one record gave. ``unmatched``: no ledger row or batch (yet)."""

    status: Status
    events: list[Event] = field(default_factory=list)
    note: str = ""


class EventMapper:
    """Maps SES records to Mailgun events with batch-shaped storage lookups.

    One per consumer (the SQS source, the SNS endpoint); it keeps a small LRU of decoded batches
    (batch content never changes once stored).
    """

    def __init__(self, gateway: Any, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.gateway = gateway
        self.builders = EventBuilders(gateway, size=cache_size)

    # -- lookups ------------------------------------------------------------------------------

    async def _rows(self, records: Sequence[SesRecord]) -> list[list[Recipient]]:
        """The candidate ledger rows of each record: by ``pg_rcpt``, else by SES message id."""
        storage = self.gateway.storage
        wanted = sorted({r.rcpt_id for r in records if r.rcpt_id is not None})
        by_id = {row.id: row for row in await storage.get_recipients(wanted)} if wanted else {}
        found: list[list[Recipient]] = []
        missing: set[str] = set()
        for record in records:
            row = by_id.get(record.rcpt_id) if record.rcpt_id is not None else None
            found.append([row] if row is not None else [])
            if row is None and record.ses_message_id:
                missing.add(record.ses_message_id)
        if missing:
            by_provider: dict[str, list[Recipient]] = {}
            for row in await storage.find_recipients(sorted(missing)):
                by_provider.setdefault(row.provider_id or "", []).append(row)
            for index, record in enumerate(records):
                if not found[index]:
                    found[index] = by_provider.get(record.ses_message_id, [])
        return found

    # -- mapping --------------------------------------------------------------------------------

    async def map(self, records: Sequence[SesRecord]) -> list[Outcome]:
        """Map ``records``; one :class:`Outcome` per record, in order."""
        if not records:
            return []
        candidates = await self._rows(records)
        outcomes: list[Outcome] = []
        settle: dict[int, str] = {}
        for record, rows in zip(records, candidates):
            rows = [row for row in rows if self._belongs(record, row)]
            if not rows:
                outcomes.append(Outcome("unmatched", note="no ledger row for this message (yet)"))
                continue
            builders = {}
            for row in rows:
                builder = await self.builders.get(row.batch_id)
                if builder is not None:
                    builders[row.id] = builder
            if not builders:
                outcomes.append(Outcome("unmatched", note=f"batch {rows[0].batch_id} not found"))
                continue
            for row in rows:
                if row.provider_id is None and record.ses_message_id:
                    settle.setdefault(row.id, record.ses_message_id)
            try:
                events = self._events(record, [r for r in rows if r.id in builders], builders)
            except (TypeError, ValueError, AttributeError) as exc:
                log.warning("SES %s record could not be mapped (%s); dropped: %s", record.kind, exc,
                            json.dumps(record.record)[:4000])
                outcomes.append(Outcome("ignored", note=f"unmappable: {exc}"))
                continue
            outcomes.append(Outcome("handled" if events else "ignored", events))
        if settle:
            changed = await self.gateway.storage.record_provider_ids(sorted(settle.items()))
            if changed:
                log.info("settled %d ledger row(s) from SES events", changed)
        return outcomes

    def _belongs(self, record: SesRecord, row: Recipient) -> bool:
        """Guard against another installation's ids (a shared topic): batch tag and destination."""
        batch = record.batch_tag
        if batch is not None and batch != row.batch_id:
            return False
        domain = record.domain_tag
        if domain is not None and domain.lower() != row.domain.lower().replace(".", "_"):
            return False
        destination = record.mail.get("destination")
        if isinstance(destination, list) and destination:
            return _bare(row.address) in {_bare(d) for d in destination}
        return True

    def _events(self, record: SesRecord, rows: list[Recipient],
                builders: dict[int, EventBuilder]) -> list[Event]:
        kind = record.kind
        if kind == "Send":
            return []
        detail = record.detail
        list_key, address_key = RECIPIENT_LISTS.get(kind, (None, None))
        entries: list[tuple[str | None, dict[str, Any]]] = []
        if list_key is not None:
            for item in detail.get(list_key) or []:
                if isinstance(item, dict):
                    entries.append((item.get(address_key or "") or None, item))
                else:
                    entries.append((str(item), {}))
        if not entries:
            entries = [(None, {})]
        events = []
        for address, item in entries:
            row = self._row_for(address, rows)
            if row is None:
                log.warning("SES %s for %s matches no ledger row of message %s; skipped", kind, address,
                            record.ses_message_id)
                continue
            event = self._event(record, builders[row.id], row, item)
            if event is not None:
                extra = str(detail.get("link") or "") if kind == "Click" else ""
                event.key = event_key(kind, record.ses_message_id, record.timestamp, row.address, extra)
                events.append(event)
        return events

    @staticmethod
    def _row_for(address: str | None, rows: list[Recipient]) -> Recipient | None:
        if address:
            for row in rows:
                if _bare(row.address) == _bare(address):
                    return row
        return rows[0] if len(rows) == 1 else None

    def _event(self, record: SesRecord, builder: EventBuilder, row: Recipient,
               item: dict[str, Any]) -> Event | None:
        kind, detail = record.kind, record.detail
        if kind == "Delivery":
            return builder.delivered(row, message=str(detail.get("smtpResponse") or "OK"),
                                     mx_host=str(detail.get("remoteMtaIp") or ""))
        if kind == "Bounce":
            return self._bounce(builder, row, detail, item)
        if kind == "DeliveryDelay":
            code, enhanced, text = smtp_details(item.get("diagnosticCode"), item.get("status"))
            delay = detail.get("delayType") or "Undetermined"
            expires = detail.get("expirationTime")
            description = f"SES delivery delay ({delay})" + (f"; retrying until {expires}" if expires else "")
            return builder.failed(row, permanent=False, code=_code(code, 421, (4, 5)), enhanced_code=enhanced,
                                  message=text or description, description=description, reason="generic",
                                  mx_host=str(detail.get("reportingMTA") or ""))
        if kind == "Reject":
            reason = detail.get("reason") or "rejected"
            text = f"Rejected by Amazon SES: {reason}"
            return builder.failed(row, permanent=True, code=550, message=text, description=text,
                                  reason="generic")
        if kind == "Rendering Failure":
            error = detail.get("errorMessage") or "template rendering failed"
            text = f"Amazon SES could not render the message: {error}"
            return builder.failed(row, permanent=True, code=550, message=text, description=text,
                                  reason="generic")
        if kind == "Complaint":
            if str(detail.get("complaintSubType") or "").lower() == "onaccountsuppressionlist":
                return builder.dropped(row, code=607, reason="suppress-complaint",
                                       description="Not delivering to a user who marked your messages as spam")
            return builder.complained(row)
        if kind == "Open":
            return builder.opened(row, ip=str(detail.get("ipAddress") or ""),
                                  user_agent=str(detail.get("userAgent") or ""))
        if kind == "Click":
            return builder.clicked(row, url=str(detail.get("link") or ""), ip=str(detail.get("ipAddress") or ""),
                                   user_agent=str(detail.get("userAgent") or ""))
        if kind == "Subscription":
            if not opted_out(detail):
                return None
            return builder.unsubscribed(row, ip=str(detail.get("ipAddress") or ""),
                                        user_agent=str(detail.get("userAgent") or ""))
        log.info("SES event type %r has no Mailgun equivalent; ignored (message %s)", kind,
                 record.ses_message_id)
        return None

    @staticmethod
    def _bounce(builder: EventBuilder, row: Recipient, detail: dict[str, Any], item: dict[str, Any]) -> Event:
        bounce_type = str(detail.get("bounceType") or "Undetermined")
        subtype = str(detail.get("bounceSubType") or "")
        code, enhanced, text = smtp_details(item.get("diagnosticCode"), item.get("status"))
        label = f"SES {bounce_type} bounce" + (f" ({subtype})" if subtype else "")
        mx_host = str(detail.get("reportingMTA") or "").removeprefix("dsn;").strip()
        if bounce_type == "Permanent" and subtype.lower() in SUPPRESSED_SUBTYPES:
            return builder.failed(row, permanent=True, code=605, reason="suppress-bounce", enhanced_code=enhanced,
                                  message=text or f"{label}: address on the SES suppression list")
        if bounce_type == "Transient":
            return builder.failed(row, permanent=False, code=_code(code, 451, (4, 5)), enhanced_code=enhanced,
                                  message=text or label, description=label, reason="bounce", mx_host=mx_host)
        # Permanent (General, NoEmail, unknown subtypes) is a hard bounce; Undetermined is permanent
        # for Ghost but not evidence enough to suppress the address.
        hard = bounce_type == "Permanent"
        return builder.failed(row, permanent=True, code=_code(code, 550, (5,)), enhanced_code=enhanced,
                              message=text or label, description=label, reason="bounce" if hard else "generic",
                              mx_host=mx_host)


def _code(code: int | None, default: int, classes: Iterable[int]) -> int:
    return code if code is not None and code // 100 in tuple(classes) else default


def _opted_out_topics(preferences: Any) -> tuple[bool, set[str]]:
    if not isinstance(preferences, dict):
        return False, set()
    topics = {
        str(item.get("topicName"))
        for item in preferences.get("topicSubscriptionStatus") or []
        if isinstance(item, dict) and str(item.get("subscriptionStatus")).lower() == "optout"
    }
    return bool(preferences.get("unsubscribeAll")), topics


def opted_out(detail: dict[str, Any]) -> bool:
    """Whether a Subscription event records a new opt-out (all topics, or a topic newly OptOut)."""
    new_all, new_topics = _opted_out_topics(detail.get("newTopicPreferences"))
    old_all, old_topics = _opted_out_topics(detail.get("oldTopicPreferences"))
    return (new_all and not old_all) or bool(new_topics - old_topics)


# -- transient bounces → bounces list --------------------------------------------------------


def is_transient_bounce(event: Event) -> bool:
    """A temporary ``failed`` with reason ``bounce`` built by this module (key ``ses:…``)."""
    return (event.event == "failed" and (event.severity or event.payload.get("severity")) == "temporary"
            and event.payload.get("reason") == "bounce" and bool(event.key) and event.key.startswith(KEY_PREFIX))


async def transient_suppressions(gateway: Any, events: Sequence[Event], threshold: int,
                                 now: float | None = None) -> list[Suppression]:
    """Addresses whose stored transient bounces (last 30 days) reached ``threshold``, and that are
    not already on ``bounces`` nor whitelisted; adds them to ``bounces`` and returns the entries."""
    wanted: dict[tuple[str, str], Event] = {}
    for event in events:
        if is_transient_bounce(event) and event.recipient:
            wanted.setdefault((event.domain.lower(), event.recipient.strip().lower()), event)
    if not wanted:
        return []
    now = time.time() if now is None else now
    storage = gateway.storage
    entries = []
    for (domain, _), event in wanted.items():
        address = event.recipient or ""
        query = EventQuery(
            domain=domain, ascending=True, begin=int((now - TRANSIENT_WINDOW_SECONDS) * 1_000_000),
            filter=And((Term("event", "failed"), Term("severity", "temporary"), Term("reason", "bounce"),
                        Term("recipient", address))),
            limit=threshold, live=True,
        )
        found = await storage.page_events(query)
        if len(found) < threshold:
            continue
        existing = await storage.find_suppressions(domain, [address])
        if any(e.list == "bounces" and e.address.strip().lower() == address.strip().lower() for e in existing):
            continue
        if is_whitelisted(address, [e for e in existing if e.list == "whitelists"]):
            continue
        status = event.payload.get("delivery-status") or {}
        entries.append(Suppression(domain, "bounces", address, code=int(status.get("code") or 451),
                                   error=f"{len(found)} transient bounces: {status.get('message') or ''}".strip()))
    if entries:
        await storage.add_suppressions(entries)
        for entry in entries:
            log.info("%s reached %d transient bounces; added to bounces of %s", entry.address, threshold,
                     entry.domain)
    return entries
