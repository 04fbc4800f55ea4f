"""The listener's MX role: mail without AUTH for the ``receive_domains``, handed to plugins.

Only addresses at a receive domain that a plugin claims (``claims_recipient``) are accepted, so
nothing is taken that nobody will read and nothing is relayed; each message, at most
``receive_max_message_kb``, goes to the ``mail_received`` hook before the sender is answered.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from postgate import Gateway, InboundMail
from postgate.addresses import valid_address
from postgate.plugins import call_all

log = logging.getLogger("postgate.smtp.receiving")

#: Recipients one received message may have (an unsubscribe mail has one).
MAX_RECIPIENTS = 50
NOT_HERE = "550 5.7.1 Relaying denied: log in (AUTH) to send mail to that address"
NO_MAILBOX = "550 5.1.1 No such mailbox here"
TOO_BIG = "552 5.3.4 Message too big for this mailbox"
NOT_TAKEN = "451 4.3.0 The message could not be handled now; try again later"


def peer_text(peer: Any) -> str:
    """``host:port`` (``[v6]:port``) of aiosmtpd's ``session.peer``, or ``""``."""
    if not isinstance(peer, tuple) or len(peer) < 2:
        return ""
    host, port = str(peer[0]), peer[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def declared_size(mail_options: list[str]) -> int | None:
    """The ``SIZE=`` of a MAIL command's parameters (aiosmtpd has checked it is digits)."""
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return None


class Receiver:
    """What the listener does for a client that has not logged in, when it receives mail."""

    def __init__(self, gateway: Gateway, domains: list[str], max_bytes: int) -> None:
        self.gateway = gateway
        self.domains = frozenset(domains)
        self.max_bytes = max_bytes

    def mail(self, mail_options: list[str]) -> str | None:
        """The refusal of a MAIL command without AUTH, or ``None`` to take it (any sender)."""
        size = declared_size(mail_options)
        if size is not None and size > self.max_bytes:
            return TOO_BIG
        return None

    async def rcpt(self, address: str, accepted: int) -> str | None:
        """The refusal of a RCPT TO without AUTH, or ``None`` when a plugin claims ``address``."""
        if accepted >= MAX_RECIPIENTS:
            return f"452 4.5.3 Too many recipients, max is {MAX_RECIPIENTS} per message"
        if not valid_address(address):
            return "553 5.1.3 The recipient is not a valid address"
        if address.rpartition("@")[2].lower().rstrip(".") not in self.domains:
            return NOT_HERE
        claims = await call_all(self.gateway.pm.hook.claims_recipient, gateway=self.gateway, address=address)
        return None if any(answer is True for answer in claims) else NO_MAILBOX

    async def data(self, envelope: Any, peer: Any) -> str:
        """Hand the message to ``mail_received``; ``250`` once every plugin has stored it."""
        raw = envelope.original_content or b""
        if len(raw) > self.max_bytes:
            return TOO_BIG
        sender = "" if envelope.mail_from in (None, "<>") else envelope.mail_from  # "" for a bounce
        mail = InboundMail(mail_from=sender, recipients=tuple(envelope.rcpt_tos), raw=raw,
                           peer=peer_text(peer), received_at=time.time())
        try:
            await call_all(self.gateway.pm.hook.mail_received, gateway=self.gateway, mail=mail)
        except Exception:
            log.exception("mail for %d recipient(s) from %s not handled", len(mail.recipients), mail.peer)
            return NOT_TAKEN
        return "250 2.0.0 OK: received"
