"""Mail that reaches Postgate itself (an MX role such as the SMTP listener's ``receive_domains``),
as the ``mail_received`` hook hands it to plugins."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InboundMail:
    """One message received for addresses plugins claimed (``claims_recipient``).

    ``recipients`` are the accepted RCPT TO addresses as the sender wrote them; ``raw`` is the
    message byte for byte; ``peer`` is the sending server's address (``host:port`` or ``""``).
    """

    mail_from: str
    recipients: tuple[str, ...]
    raw: bytes
    peer: str
    received_at: float
