"""Mailgun event payloads (contract §3.5) for one batch and its ledger rows.

:class:`EventBuilder` is made once per batch and turns a ledger :class:`~postgate.domain.Recipient`
into :class:`~postgate.domain.Event` objects with exactly Mailgun's field names. Every event
carries ``recipient``, ``recipient-domain``, the batch's ``tags``, the recipient's substituted
``user-variables``, ``campaigns`` and ``message.headers.message-id``, so Ghost can match it and
filter it by tag. ``Event.key`` is a deterministic source identity (``accepted:<recipient id>``,
``delivered:<id>``, ``failed:<id>:<attempt>``…): recording the same step twice stores one event.

Event sources that learn about opens, clicks and unsubscribes later (a provider's event stream)
build them with :meth:`EventBuilder.opened`, :meth:`~EventBuilder.clicked` and
:meth:`~EventBuilder.unsubscribed`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any

from .codec import decode_message
from .domain import Batch, Event, Message, Recipient
from .substitution import Substituter, recipient_entry, user_variables

#: Descriptions Mailgun gives suppression drops (contract §3.5).
SUPPRESSION_DESCRIPTIONS = {
    605: "Not delivering to previously bounced address",
    606: "Not delivering to unsubscribed address",
    607: "Not delivering to a user who marked your messages as spam",
}

SENDING_IP = "127.0.0.1"


def recipient_domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


class EventBuilder:
    """Builds the events of one batch. Cheap to make; holds no per-recipient state."""

    def __init__(self, batch: Batch, message: Message, *, public_url: str | None = None) -> None:
        self.batch = batch
        self.message = message
        self.public_url = (public_url or "").rstrip("/")
        self.sender = message.sender
        self.envelope_sender = parseaddr(message.sender)[1] or message.sender
        self.variables_header = message.header("X-Mailgun-Variables")
        self.batch_to = ", ".join(message.to)

    # -- the parts every event shares -------------------------------------------------------

    def _substituter(self, recipient: Recipient) -> Substituter:
        return Substituter(recipient_entry(recipient.name, recipient.address), recipient.variables)

    def _storage(self, recipient: Recipient) -> dict[str, str]:
        key = f"{self.batch.id}-{recipient.id}"
        return {"url": f"{self.public_url}/v3/domains/{self.batch.domain}/messages/{key}", "key": key}

    def _base(self, kind: str, recipient: Recipient, level: str, *, full_headers: bool,
              key: str | None, severity: str | None = None) -> Event:
        substitute = self._substituter(recipient)
        headers: dict[str, Any] = {"message-id": recipient.message_id}
        if full_headers:
            to = recipient_entry(recipient.name, recipient.address) if self.message.batch_mode else self.batch_to
            headers.update({"to": to, "from": self.sender,
                            "subject": substitute(self.message.subject) or ""})
        payload: dict[str, Any] = {
            "event": kind,
            "log-level": level,
            "recipient": recipient.address,
            "recipient-domain": recipient_domain(recipient.address),
            "tags": list(self.batch.tags),
            "campaigns": [],
            "user-variables": user_variables(self.message.variables, self.variables_header, substitute),
            "message": {"headers": headers},
        }
        if full_headers:
            payload["flags"] = {"is-routed": False, "is-authenticated": True,
                                "is-system-test": False, "is-test-mode": self.batch.testmode}
            payload["envelope"] = {"sender": self.envelope_sender, "transport": "smtp",
                                   "targets": recipient.address, "sending-ip": SENDING_IP}
            payload["message"]["attachments"] = [
                {"filename": a.filename, "content-type": a.content_type, "size": len(a.data)}
                for a in self.message.attachments if not a.inline
            ]
        if severity is not None:
            payload["severity"] = severity
        return Event(
            domain=self.batch.domain,
            event=kind,
            recipient=recipient.address,
            message_id=recipient.message_id,
            payload=payload,
            key=key,
            email_id=self.batch.email_id or payload["user-variables"].get("email-id") or None,
            tags=list(self.batch.tags),
            severity=severity,
        )

    # -- the pipeline's own events ----------------------------------------------------------

    def accepted(self, recipient: Recipient) -> Event:
        event = self._base("accepted", recipient, "info", full_headers=True, key=f"accepted:{recipient.id}")
        event.payload["method"] = "http"
        event.payload["message"]["recipients"] = [recipient.address]
        event.payload["storage"] = self._storage(recipient)
        return event

    def delivered(self, recipient: Recipient, *, attempt: int = 1, message: str = "OK",
                  mx_host: str = "") -> Event:
        """A delivery; in test mode (the batch's ``o:testmode``) code 650 and ``is-test-mode``."""
        event = self._base("delivered", recipient, "info", full_headers=True, key=f"delivered:{recipient.id}")
        event.payload["delivery-status"] = {
            "code": 650 if self.batch.testmode else 250,
            "message": message,
            "description": "",
            "attempt-no": attempt,
            "session-seconds": 0.0,
            "mx-host": mx_host,
            "tls": True,
            "utf8": True,
            "certificate-verified": True,
        }
        event.payload["storage"] = self._storage(recipient)
        return event

    def failed(self, recipient: Recipient, *, permanent: bool, code: int, message: str = "",
               description: str = "", enhanced_code: str = "", reason: str = "generic",
               attempt: int = 1, retry_seconds: float | None = None, mx_host: str = "") -> Event:
        """A permanent (``log-level`` error) or temporary (warn, with ``retry-seconds``) failure."""
        severity = "permanent" if permanent else "temporary"
        event = self._base("failed", recipient, "error" if permanent else "warn", full_headers=True,
                           key=f"failed:{recipient.id}:{attempt}", severity=severity)
        if not description:
            description = SUPPRESSION_DESCRIPTIONS.get(code, "")
        status: dict[str, Any] = {
            "code": int(code),
            "message": message,
            "description": description,
            "enhanced-code": enhanced_code,
            "attempt-no": attempt,
            "session-seconds": 0.0,
            "mx-host": mx_host,
        }
        if not permanent:
            status["retry-seconds"] = int(retry_seconds or 0)
        event.payload["reason"] = reason
        event.payload["delivery-status"] = status
        event.payload["storage"] = self._storage(recipient)
        return event

    def dropped(self, recipient: Recipient, *, code: int, reason: str, description: str,
                attempt: int = 1) -> Event:
        """A suppression drop: permanent failure 605/606/607, never attempted."""
        return self.failed(recipient, permanent=True, code=code, reason=reason,
                           description=description, attempt=attempt)

    def complained(self, recipient: Recipient, *, key: str | None = None) -> Event:
        return self._base("complained", recipient, "warn", full_headers=True,
                          key=key or f"complained:{recipient.id}")

    # -- engagement events, for event sources -----------------------------------------------

    def _engagement(self, kind: str, recipient: Recipient, key: str | None, ip: str,
                    user_agent: str, geolocation: Mapping[str, str] | None,
                    client_info: Mapping[str, str] | None) -> Event:
        event = self._base(kind, recipient, "info", full_headers=False, key=key)
        event.payload["ip"] = ip
        event.payload["geolocation"] = dict(geolocation or {"country": "", "region": "", "city": ""})
        event.payload["client-info"] = dict(client_info or {
            "client-type": "", "client-os": "", "device-type": "", "client-name": "",
            "user-agent": user_agent, "bot": "",
        })
        return event

    def opened(self, recipient: Recipient, *, key: str | None = None, ip: str = "", user_agent: str = "",
               geolocation: Mapping[str, str] | None = None,
               client_info: Mapping[str, str] | None = None) -> Event:
        return self._engagement("opened", recipient, key, ip, user_agent, geolocation, client_info)

    def clicked(self, recipient: Recipient, *, url: str, key: str | None = None, ip: str = "",
                user_agent: str = "", geolocation: Mapping[str, str] | None = None,
                client_info: Mapping[str, str] | None = None) -> Event:
        event = self._engagement("clicked", recipient, key, ip, user_agent, geolocation, client_info)
        event.payload["url"] = url
        return event

    def unsubscribed(self, recipient: Recipient, *, key: str | None = None, ip: str = "",
                     user_agent: str = "", geolocation: Mapping[str, str] | None = None,
                     client_info: Mapping[str, str] | None = None) -> Event:
        return self._engagement("unsubscribed", recipient, key, ip, user_agent, geolocation, client_info)


class EventBuilders:
    """The :class:`EventBuilder` of each batch an event source meets, loaded once (the stored
    message decoded off the event loop) and kept in a small LRU, as provider events arrive in
    runs of the same batch."""

    def __init__(self, gateway: Any, public_url: str | None = None, size: int = 64) -> None:
        self.gateway = gateway
        settings = gateway.settings.gateway
        self.public_url = (public_url or settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
        self.size = size
        self._builders: OrderedDict[int, EventBuilder] = OrderedDict()

    async def get(self, batch_id: int) -> EventBuilder | None:
        """The batch's builder, or ``None`` when the batch is gone (purged)."""
        builder = self._builders.get(batch_id)
        if builder is not None:
            self._builders.move_to_end(batch_id)
            return builder
        batch = await self.gateway.storage.get_batch(batch_id)
        if batch is None:
            return None
        message = await asyncio.to_thread(decode_message, batch.content)  # up to ~1 MB of JSON
        builder = self._builders[batch_id] = EventBuilder(batch, message, public_url=self.public_url)
        while len(self._builders) > self.size:
            self._builders.popitem(last=False)
        return builder
