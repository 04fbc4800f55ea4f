"""What an SMTP dialogue means for one recipient, as a :class:`~postgate.DeliveryResult` (pure).

=====================================  ==========================================================
The relay's answer                     The result
=====================================  ==========================================================
2xx after the message's final ``.``    ``delivered``; the reply (``250 2.0.0 Ok: queued as …``) is
                                       the event's ``delivery-status.message``
4xx at any step                        ``failed`` temporary (the ledger retries with backoff)
no connection, TLS or AUTH failure,    ``failed`` temporary, 421 4.4.1 / 4.4.2 / 4.7.0 / 4.7.8
connection lost before the message
5xx at RCPT or after the message,      ``failed`` permanent, reason ``bounce`` (the built-in
about the address or mailbox (X.1.Y,  listener adds the address to ``bounces``: the next send is
X.2.Y; no enhanced code: 550/551/553)  dropped with 605, as after an SES hard bounce)
any other 5xx (MAIL FROM refused,      ``failed`` permanent, reason ``generic`` (nothing is
policy 5.7.x, size 5.3.4, content)    suppressed: the fault is not the recipient's)
connection lost or no answer after     ``unknown``: the relay may hold the message; the row stays
the message was written                in doubt (see docs/smtp.md)
=====================================  ==========================================================
"""

from __future__ import annotations

import re
from typing import Literal

from postgate import DeliveryResult

Stage = Literal["connect", "mail", "rcpt", "data", "message"]

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
#: Basic codes that, without an enhanced code, speak of the recipient's address at RCPT.
_ADDRESS_CODES = frozenset({550, 551, 553})
MAX_TEXT = 1000


def one_line(text: str) -> str:
    """A server reply as one printable line (multi-line replies joined), at most ``MAX_TEXT`` long."""
    cleaned = " ".join(part.strip() for part in text.splitlines() if part.strip())
    cleaned = "".join(ch if ch.isprintable() else " " for ch in cleaned)
    return cleaned[:MAX_TEXT]


def enhanced_code(text: str, code: int) -> str:
    """The RFC 3463 status code a reply starts with, if its class matches the basic code's."""
    match = _ENHANCED.match(text)
    if match is None or match.group(1) != str(code)[0]:
        return ""
    return ".".join(match.groups())


def reply_text(code: int, text: str) -> str:
    """``"250 2.0.0 Ok: queued as ABC"``: the reply as the event shows it."""
    return f"{code} {one_line(text)}".strip()


def delivered(recipient_id: int, code: int, text: str, provider_id: str | None = None) -> DeliveryResult:
    return DeliveryResult(recipient_id, "delivered", provider_id=provider_id, message=reply_text(code, text))


def is_bounce(stage: Stage, code: int, enhanced: str) -> bool:
    """Whether a 5xx says the address or mailbox is bad (a hard bounce), not the sender or content."""
    if stage not in ("rcpt", "message"):
        return False
    if enhanced:
        return enhanced.split(".")[1] in ("1", "2")
    return stage == "rcpt" and code in _ADDRESS_CODES


def refused(recipient_id: int, stage: Stage, code: int, text: str) -> DeliveryResult:
    """The result of a 4xx or 5xx reply at ``stage`` (any other code counts as 4xx/5xx by class)."""
    enhanced = enhanced_code(text, code)
    permanent = 500 <= code < 600
    reason = "bounce" if permanent and is_bounce(stage, code, enhanced) else "generic"
    if not permanent and not 400 <= code < 500:
        code = 451  # a reply outside 4xx/5xx where one was expected: a protocol fault, retried
        enhanced = "4.5.0"
    return DeliveryResult(recipient_id, "failed", permanent=permanent, code=code,
                          enhanced_code=enhanced or (f"{str(code)[0]}.0.0"),
                          message=reply_text(code, text), reason=reason)


ConnectionTrouble = Literal["unreachable", "lost", "tls", "auth"]
_TROUBLE_CODES: dict[str, tuple[int, str]] = {
    "unreachable": (421, "4.4.1"),
    "lost": (421, "4.4.2"),
    "tls": (421, "4.7.0"),
    "auth": (454, "4.7.8"),
}


def temporary(recipient_id: int, trouble: ConnectionTrouble, text: str) -> DeliveryResult:
    """A failure of the connection (not an answer about the message): retried with backoff."""
    code, enhanced = _TROUBLE_CODES[trouble]
    return DeliveryResult(recipient_id, "failed", permanent=False, code=code, enhanced_code=enhanced,
                          message=one_line(text), reason="generic")


def not_sendable(recipient_id: int, text: str, enhanced: str = "5.1.3") -> DeliveryResult:
    """A message that cannot be put into an SMTP envelope at all (an unusable address)."""
    return DeliveryResult(recipient_id, "failed", permanent=True, code=553, enhanced_code=enhanced,
                          message=one_line(text), reason="generic")


def in_doubt(recipient_id: int, text: str) -> DeliveryResult:
    """The message was written but its answer never came: the relay may have it."""
    return DeliveryResult(recipient_id, "unknown", message=one_line(text))
