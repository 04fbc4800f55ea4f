"""Mailgun's metric names (``POST /v1/analytics/metrics``) defined over the roll-up kinds.

A count is a sum of roll-up kinds less others; a rate is one count over another, as a percentage
(Mailgun's metric definitions). Metrics whose inputs the roll-ups do not keep (failure reasons
beyond suppression drops, delivery attempts, delayed bounces…) are listed in :data:`UNANSWERABLE`
with the reason, so a request for them is refused rather than answered with an invented zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CountMetric:
    name: str
    plus: tuple[str, ...]  # roll-up kinds added up
    minus: tuple[str, ...] = ()  # roll-up kinds taken off

    def of(self, counts: Mapping[str, int]) -> int:
        return sum(counts.get(k, 0) for k in self.plus) - sum(counts.get(k, 0) for k in self.minus)


@dataclass(frozen=True, slots=True)
class RateMetric:
    name: str
    numerator: str  # a count metric
    denominator: str  # a count metric

    def of(self, counts: Mapping[str, int]) -> str | None:
        """The percentage as Mailgun writes it (a string), ``None`` when the denominator is 0."""
        below = COUNTS[self.denominator].of(counts)
        if not below:
            return None
        return f"{100 * COUNTS[self.numerator].of(counts) / below:.4f}"


_COUNTS = (
    CountMetric("accepted_count", ("accepted",)),
    CountMetric("accepted_outgoing_count", ("accepted",)),
    # Postgate has no routes, forwards or mailing lists: nothing is accepted incoming or
    # delivered over HTTP (the core's /v3 stats say the same).
    CountMetric("accepted_incoming_count", ()),
    CountMetric("delivered_count", ("delivered",)),
    CountMetric("delivered_smtp_count", ("delivered",)),
    CountMetric("delivered_http_count", ()),
    CountMetric("stored_count", ("stored",)),
    # Postgate records no delayed bounces and no webhook failures as events.
    CountMetric("processed_count", ("delivered", "failed_permanent")),
    CountMetric("sent_count", ("delivered", "failed_permanent"), ("suppressed",)),
    CountMetric("opened_count", ("opened",)),
    CountMetric("clicked_count", ("clicked",)),
    CountMetric("unique_opened_count", ("opened_unique",)),
    CountMetric("unique_clicked_count", ("clicked_unique",)),
    CountMetric("unsubscribed_count", ("unsubscribed",)),
    CountMetric("complained_count", ("complained",)),
    CountMetric("failed_count", ("failed_permanent", "failed_temporary")),
    CountMetric("temporary_failed_count", ("failed_temporary",)),
    CountMetric("permanent_failed_count", ("failed_permanent",)),
    CountMetric("bounced_count", ("failed_permanent",), ("suppressed",)),
)
COUNTS: dict[str, CountMetric] = {metric.name: metric for metric in _COUNTS}

_RATES = (
    RateMetric("delivered_rate", "delivered_count", "sent_count"),
    RateMetric("opened_rate", "opened_count", "delivered_count"),
    RateMetric("clicked_rate", "clicked_count", "delivered_count"),
    RateMetric("unique_opened_rate", "unique_opened_count", "delivered_count"),
    RateMetric("unique_clicked_rate", "unique_clicked_count", "delivered_count"),
    RateMetric("unsubscribed_rate", "unsubscribed_count", "delivered_count"),
    RateMetric("complained_rate", "complained_count", "delivered_count"),
    RateMetric("bounce_rate", "bounced_count", "processed_count"),
    RateMetric("permanent_fail_rate", "permanent_failed_count", "processed_count"),
    RateMetric("temporary_fail_rate", "temporary_failed_count", "processed_count"),
    RateMetric("fail_rate", "failed_count", "processed_count"),
)
RATES: dict[str, RateMetric] = {metric.name: metric for metric in _RATES}

_NO_REASONS = "the roll-ups count permanent failures and suppression drops, not each failure reason"
_NO_ATTEMPTS = "the roll-ups do not keep delivery attempt numbers"
#: Mailgun metrics the roll-ups cannot answer, with why.
UNANSWERABLE: dict[str, str] = {
    "hard_bounces_count": _NO_REASONS,
    "soft_bounces_count": _NO_REASONS,
    "suppressed_bounces_count": _NO_REASONS,
    "suppressed_unsubscribed_count": _NO_REASONS,
    "suppressed_complaints_count": _NO_REASONS,
    "permanent_failed_old_count": _NO_REASONS,
    "temporary_failed_esp_block_count": _NO_REASONS,
    "permanent_failed_esp_block_count": _NO_REASONS,
    "esp_block_count": _NO_REASONS,
    "delayed_bounce_count": "Postgate does not mark delayed bounces",
    "webhook_count": "Postgate records no webhook failures as events",
    "rate_limit_count": "Postgate records no rate-limit events",
    "delivered_optimized_count": "Postgate has no send time optimization",
    "permanent_failed_optimized_count": "Postgate has no send time optimization",
    "delivered_first_attempt_count": _NO_ATTEMPTS,
    "delayed_first_attempt_count": _NO_ATTEMPTS,
    "delivered_subsequent_count": _NO_ATTEMPTS,
    "delivered_two_plus_attempts_count": _NO_ATTEMPTS,
    "delayed_rate": _NO_ATTEMPTS,
    "delayed_first_attempt_rate": _NO_ATTEMPTS,
}

#: Every metric a request may name.
ANSWERABLE = (*COUNTS, *RATES)


def metric_values(names: list[str], counts: Mapping[str, int]) -> dict[str, int | str | None]:
    """The named metrics of one set of roll-up counts."""
    return {name: COUNTS[name].of(counts) if name in COUNTS else RATES[name].of(counts) for name in names}
