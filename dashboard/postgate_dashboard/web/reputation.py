"""Reputation thresholds: what AWS SES and Gmail/Yahoo enforce on bounce and complaint rates, and
the level a rate is at (see docs/dashboard.md, "Reputation", for the sources)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["none", "ok", "warn", "bad"]


@dataclass(frozen=True, slots=True)
class Limit:
    """At ``at`` (a fraction) or above, ``who`` does ``what``; ``level`` is how bad that is."""

    at: float
    who: str
    what: str
    level: Level


#: Hard bounces per email sent (AWS SES's bounce rate, ``sent_bounce_rate``).
BOUNCE_LIMITS = (
    Limit(0.05, "AWS SES", "account under review", "warn"),
    Limit(0.10, "AWS SES", "sending may be paused", "bad"),
)
#: Complaints per delivered message (Gmail's and Yahoo's spam rate, Mailgun's ``complained_rate``).
COMPLAINT_LIMITS = (
    Limit(0.001, "AWS SES", "account under review", "warn"),
    Limit(0.001, "Gmail/Yahoo", "above the 0.1% to stay under", "warn"),
    Limit(0.003, "Gmail/Yahoo", "never to reach: mail is filtered, no mitigation", "bad"),
    Limit(0.005, "AWS SES", "sending may be paused", "bad"),
)


def classify(rate: float | None, limits: tuple[Limit, ...]) -> tuple[Level, list[Limit]]:
    """The level of ``rate`` and the limits it has reached (``none`` without a denominator)."""
    if rate is None:
        return "none", []
    reached = [limit for limit in limits if rate >= limit.at]
    if not reached:
        return "ok", []
    return ("bad" if any(l.level == "bad" for l in reached) else "warn"), reached


def verdict(level: Level, reached: list[Limit]) -> str:
    """A short sentence for the level."""
    if level == "none":
        return "no data"
    if level == "ok":
        return "below every threshold"
    worst = max(reached, key=lambda l: (l.level == "bad", l.at))
    return f"{worst.who}: {worst.what}"
