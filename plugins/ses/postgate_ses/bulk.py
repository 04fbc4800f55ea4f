"""The optional ``SendBulkEmail`` path (``[plugins.ses] bulk = true``; off by default).

``SendBulkEmail`` takes one *template* and up to 50 destinations, each with its own headers
(``ReplacementHeaders``) and tags. SES bills and rate-limits per recipient either way, so bulk
only saves HTTP round trips; it matters only for accounts allowed hundreds of messages a second.

Postgate keeps rendering every message itself, so Mailgun's substitution stays exact. A template
is then only possible for messages whose *content* is the same for every recipient: this module
groups the messages of a send call whose subject, text, HTML, attachments, ``From``,
``Reply-To`` and tracking are identical, and sends each group of 2 to 50 as one
``SendBulkEmail`` with an inline ``TemplateContent`` (no stored template, no ``{{…}}``
placeholders) and each recipient's own headers (``List-Unsubscribe``,
``List-Unsubscribe-Post``, ``X-Mailgun-Variables``, ``X-Postgate-Id``, custom ``h:`` headers…)
as ``ReplacementHeaders``. Everything else goes through ``SendEmail`` Raw as usual:

- messages whose body or subject differs per recipient (Ghost's newsletters carry each member's
  unsubscribe link in the body, so they always do);
- messages SES could not rebuild faithfully from a template: ``Cc``, an AMP part, more than one
  text or HTML part, ``{{`` in the content (SES would read it as a placeholder), a ``To`` that
  is not the recipient, or headers outside the ``Headers`` rules (≤ 15, printable ASCII,
  name ≤ 126, value ≤ 995, name + value ≤ 996, none that SES sets itself).

SES answers one status per entry, in request order (contract §1.2). Partial failure is normal;
each entry becomes its own result: ``SUCCESS`` is sent (never re-sent), ``MESSAGE_REJECTED`` is a
permanent failure for that recipient, throttling and transient statuses are retried by the
ledger, paused, suspended and configuration statuses pause sending. An entry without a status
is in doubt.

moto has no ``SendBulkEmail``: it answers HTTP 404, which pauses sending with a message that says
so, and ``/health/ready`` reports it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

from postgate import DeliveryResult, RenderedMessage

from . import aws
from .delivery import Verdict, _Held, classify_error, email_tags, ses_address, verdict_result

if TYPE_CHECKING:
    from .delivery import SesDelivery

#: Entries per ``SendBulkEmail`` call.
BULK_MAX = 50
#: ``ReplacementHeaders`` per entry.
MAX_HEADERS = 15
#: Fields SES sets itself or takes from other parameters: never sent as ``Headers``.
NOT_IN_HEADERS = frozenset({
    "bcc", "cc", "content-disposition", "content-type", "content-transfer-encoding", "date", "from",
    "message-id", "mime-version", "reply-to", "return-path", "subject", "to",
})

_NAME = re.compile(r"^[!-9;-@A-~]{1,126}$")
_VALUE = re.compile(r"^[ -~]{1,995}$")
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")

#: Per-entry ``Status`` → verdict kind (and pause kind).
STATUS_VERDICTS: dict[str, tuple[str, str]] = {
    "MESSAGE_REJECTED": ("permanent", ""),
    "INVALID_PARAMETER": ("permanent", ""),
    "MAIL_FROM_DOMAIN_NOT_VERIFIED": ("config", ""),
    "CONFIGURATION_SET_NOT_FOUND": ("config", ""),
    "TEMPLATE_NOT_FOUND": ("config", ""),
    "INVALID_SENDING_POOL_NAME": ("config", ""),
    "ACCOUNT_SUSPENDED": ("paused", "suspended"),
    "ACCOUNT_SENDING_PAUSED": ("paused", "sending-paused"),
    "CONFIGURATION_SET_SENDING_PAUSED": ("paused", "sending-paused"),
    "ACCOUNT_THROTTLED": ("throttled", ""),
    "ACCOUNT_DAILY_QUOTA_EXCEEDED": ("quota", ""),
    "TRANSIENT_FAILURE": ("temporary", ""),
    "FAILED": ("temporary", ""),
}


@dataclass(slots=True)
class BulkPart:
    """One message taken apart for a template: the shared content and its own headers."""

    index: int
    message: RenderedMessage
    key: tuple[Any, ...]
    from_header: str
    reply_to: list[str]
    subject: str
    text: str | None
    html: str | None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    destination: str = ""
    headers: list[dict[str, str]] = field(default_factory=list)


def prepare(index: int, message: RenderedMessage) -> BulkPart | str:
    """Take a rendered message apart for ``SendBulkEmail``; a string says why it cannot be."""
    mail = BytesParser(policy=default_policy).parsebytes(message.raw)
    raw_headers = [(name, _UNFOLD.sub("", str(value)).strip()) for name, value in mail.raw_items()]
    names = [name.lower() for name, _ in raw_headers]
    if "cc" in names or "bcc" in names or "return-path" in names:
        return "Cc, Bcc or Return-Path"
    raw = {name.lower(): value for name, value in raw_headers}
    to = getaddresses([raw.get("to", "")])
    if len(to) != 1 or to[0][1].lower() != message.recipient.lower():
        return "To is not the recipient alone"
    headers = []
    for name, value in raw_headers:
        if name.lower() in NOT_IN_HEADERS:
            continue
        if not _NAME.match(name) or not _VALUE.match(value) or len(name) + len(value) > 996:
            return f"header {name!r} breaks the Headers rules"
        headers.append({"Name": name, "Value": value})
    if len(headers) > MAX_HEADERS:
        return f"{len(headers)} headers (at most {MAX_HEADERS})"
    text = html = None
    attachments: list[dict[str, Any]] = []
    for part in mail.walk():
        if part.is_multipart():
            if part.get_content_subtype() not in ("mixed", "alternative", "related"):
                return f"multipart/{part.get_content_subtype()}"
            continue
        content_type = part.get_content_type()
        disposition = part.get_content_disposition()
        if disposition == "attachment" or part.get_filename() or (
                disposition == "inline" and not content_type.startswith("text/")):
            attachment: dict[str, Any] = {
                "RawContent": part.get_payload(decode=True) or b"",
                "FileName": part.get_filename() or "attachment",
                "ContentType": content_type,
                "ContentDisposition": "INLINE" if disposition == "inline" else "ATTACHMENT",
            }
            if part["Content-ID"]:
                attachment["ContentId"] = str(part["Content-ID"]).strip().strip("<>")
            attachments.append(attachment)
        elif content_type == "text/plain" and text is None:
            text = part.get_content()
        elif content_type == "text/html" and html is None:
            html = part.get_content()
        else:
            return f"part {content_type}"
    subject = str(mail.get("Subject", ""))
    if any("{{" in (piece or "") for piece in (subject, text, html)):
        return "'{{' in the content"
    reply_to = [address for _, address in getaddresses([raw["reply-to"]])] if "reply-to" in raw else []
    digest = hashlib.sha256()
    for attachment in attachments:
        for key in ("FileName", "ContentType", "ContentDisposition", "ContentId"):
            digest.update(str(attachment.get(key, "")).encode() + b"\0")
        digest.update(hashlib.sha256(attachment["RawContent"]).digest())
    key = (message.envelope_from, raw.get("from", ""), tuple(reply_to), subject, text, html, digest.hexdigest(),
           bool(message.tracking_opens), bool(message.tracking_clicks))
    return BulkPart(index, message, key, raw.get("from", ""), reply_to, subject, text, html, attachments,
                    ses_address(message.recipient), headers)


def plan(messages: Sequence[RenderedMessage]) -> tuple[list[list[BulkPart]], list[int]]:
    """Groups of 2 to 50 messages that share a template, and the indexes of the others."""
    groups: dict[tuple[Any, ...], list[BulkPart]] = {}
    singles: list[int] = []
    for index, message in enumerate(messages):
        try:
            prepared = prepare(index, message)
        except (ValueError, LookupError):
            prepared = "unparsable"
        if isinstance(prepared, str):
            singles.append(index)
        else:
            groups.setdefault(prepared.key, []).append(prepared)
    out: list[list[BulkPart]] = []
    for parts in groups.values():
        for start in range(0, len(parts), BULK_MAX):
            chunk = parts[start:start + BULK_MAX]
            if len(chunk) == 1:
                singles.append(chunk[0].index)
            else:
                out.append(chunk)
    return out, sorted(singles)


def bulk_params(group: Sequence[BulkPart], *, configuration_set: str | None,
                tracking: bool) -> dict[str, Any]:
    """The ``SendBulkEmail`` parameters for one group."""
    first = group[0]
    content: dict[str, str] = {"Subject": first.subject}
    if first.text is not None:
        content["Text"] = first.text
    if first.html is not None:
        content["Html"] = first.html
    template: dict[str, Any] = {"TemplateContent": content, "TemplateData": "{}"}
    if first.attachments:
        template["Attachments"] = first.attachments
    params: dict[str, Any] = {
        "FromEmailAddress": first.from_header or first.message.envelope_from,
        "DefaultContent": {"Template": template},
        "BulkEmailEntries": [
            {
                "Destination": {"ToAddresses": [part.destination]},
                "ReplacementTags": email_tags(part.message),
                "ReplacementHeaders": part.headers,
                "ReplacementEmailContent": {"ReplacementTemplate": {"ReplacementTemplateData": "{}"}},
            }
            for part in group
        ],
    }
    if first.reply_to:
        params["ReplyToAddresses"] = list(first.reply_to)
    if configuration_set:
        params["ConfigurationSetName"] = configuration_set
    if tracking:
        params["ConfigurationOverrides"] = {"Tracking": {
            "OpenTrackingEnabled": "ENABLED" if first.message.tracking_opens else "DISABLED",
            "ClickTrackingEnabled": "ENABLED" if first.message.tracking_clicks else "DISABLED",
        }}
    return params


def entry_verdicts(response: dict[str, Any], count: int) -> list[Verdict]:
    """One verdict per entry from a ``SendBulkEmail`` answer (results come in request order)."""
    results = response.get("BulkEmailEntryResults") or []
    verdicts = []
    for index in range(count):
        if index >= len(results):
            verdicts.append(Verdict("unknown", "SES returned no result for this entry; it may have taken it"))
            continue
        entry = results[index] or {}
        status, error, message_id = entry.get("Status"), entry.get("Error") or "", entry.get("MessageId")
        if status == "SUCCESS" or (message_id and status not in STATUS_VERDICTS):
            verdicts.append(Verdict("sent", provider_id=message_id))
            continue
        kind, pause = STATUS_VERDICTS.get(status or "", ("temporary", ""))
        text = f"SES {status or 'no status'}: {error}".rstrip(": ")
        if kind == "permanent":
            verdicts.append(Verdict("permanent", text, 550, "5.7.1" if status == "MESSAGE_REJECTED" else "5.6.0"))
        else:
            verdicts.append(Verdict(kind, text, pause=pause))  # type: ignore[arg-type]
    return verdicts


class BulkSender:
    """Sends a call's messages through ``SendBulkEmail`` where they share a template."""

    def __init__(self, delivery: SesDelivery) -> None:
        self.delivery = delivery
        if "SendBulkEmail" not in delivery.sender.meta.service_model.operation_names:
            from postgate import ConfigError

            raise ConfigError("[plugins.ses] bulk = true needs a botocore with SES v2 SendBulkEmail")
        self.tracking = delivery.tracking and aws.operation_has_member(
            delivery.sender, "SendBulkEmail", "ConfigurationOverrides", "Tracking")

    async def send(self, messages: list[RenderedMessage]) -> list[DeliveryResult]:
        groups, singles = await asyncio.to_thread(plan, messages)
        results: list[DeliveryResult | None] = [None] * len(messages)

        async def single(index: int) -> None:
            results[index] = await self.delivery.send_one(messages[index])

        async def bulk(group: list[BulkPart]) -> None:
            for part, result in zip(group, await self.send_group(group)):
                results[part.index] = result

        await asyncio.gather(*(single(i) for i in singles), *(bulk(g) for g in groups))
        return [r for r in results if r is not None]

    async def send_group(self, group: list[BulkPart]) -> list[DeliveryResult]:
        delivery = self.delivery
        held = [delivery._held_result(part.message.recipient_id) for part in group]
        if all(held):
            return [r for r in held if r is not None]
        params = bulk_params(group, configuration_set=delivery.settings.configuration_set or None,
                             tracking=self.tracking)
        pool = delivery._send_pool
        assert pool is not None
        started = time.time()
        try:
            response = await pool.run(delivery._call, delivery.sender.send_bulk_email, params)
        except _Held:
            return [delivery._held_result(p.message.recipient_id)
                    or verdict_result(p.message.recipient_id, Verdict("temporary", "not sent: SES sending was paused"))
                    for p in group]
        except Exception as exc:  # noqa: BLE001 - every failure maps to an outcome
            verdict = classify_error(exc, "SendBulkEmail")
            if verdict.kind == "config" and "not available" in verdict.message:
                verdict = Verdict("config", f"{verdict.message}; set [plugins.ses] bulk = false")
            return [delivery.outcome(p.message.recipient_id, verdict, started) for p in group]
        verdicts = entry_verdicts(response, len(group))
        return [delivery.outcome(p.message.recipient_id, v, started) for p, v in zip(group, verdicts)]
