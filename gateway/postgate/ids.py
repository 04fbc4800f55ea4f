"""Identifiers in Mailgun's formats."""

from __future__ import annotations

import base64
import secrets
import time


def mailgun_message_id(domain: str, now: float | None = None) -> str:
    """A bare Mailgun-style message id: ``20251121050000.0123456789abcdef@domain``."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{stamp}.{secrets.token_hex(8)}@{domain}"


def event_id() -> str:
    """A 22-character URL-safe event id, like Mailgun's."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")


def strip_brackets(value: str) -> str:
    """``<id@host>`` → ``id@host``; other values unchanged (whitespace trimmed)."""
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        return value[1:-1].strip()
    return value
