"""Mailgun's webhook names and which events each one receives."""

from __future__ import annotations

#: The webhook names Mailgun accepts, in Mailgun's documented order.
WEBHOOK_NAMES = ("accepted", "delivered", "opened", "clicked", "unsubscribed", "complained",
                 "permanent_fail", "temporary_fail")
#: URLs one webhook may hold.
MAX_URLS = 3


def webhook_for(event: str, severity: str | None) -> str | None:
    """The webhook that receives an event of type ``event`` (``failed`` splits by severity)."""
    if event == "failed":
        return "temporary_fail" if severity == "temporary" else "permanent_fail"
    return event if event in WEBHOOK_NAMES else None

