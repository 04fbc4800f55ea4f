"""Every rate the dashboard shows, defined once: Mailgun's definitions and denominators.

A rate is ``numerator / denominator`` of roll-up counts (``None`` when the denominator is 0).
Bounces are permanent failures other than suppression drops (Mailgun's ``bounced_count``);
uniques count a recipient's first open or click of a send once. Mailgun divides delivered by
``sent`` and failures by ``processed`` (:data:`DERIVED`), as its metrics API does, so the cards
and ``POST /v1/analytics/metrics`` always give the same figures. The Reputation page's hard-bounce
rate is AWS SES's instead, ``sent_bounce_rate``, over ``sent``: suppression drops never reach
the provider, so SES counts them neither as bounces nor as sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: Denominators that are not a roll-up kind: (kinds added up, kinds taken off), as Mailgun's
#: ``sent_count`` and ``processed_count`` (see ``mailgun_metrics.py``).
DERIVED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "sent": (("delivered", "failed_permanent"), ("suppressed",)),
    "processed": (("delivered", "failed_permanent"), ()),
    "bounced": (("failed_permanent",), ("suppressed",)),
}


def count_of(counts: Mapping[str, int], name: str) -> int:
    """A roll-up kind's count, or a :data:`DERIVED` one's."""
    plus, minus = DERIVED.get(name, ((name,), ()))
    return sum(counts.get(k, 0) for k in plus) - sum(counts.get(k, 0) for k in minus)


@dataclass(frozen=True, slots=True)
class Rate:
    name: str
    label: str
    plus: tuple[str, ...]  # kinds added up in the numerator
    denominator: str
    minus: tuple[str, ...] = ()  # kinds taken off the numerator

    @property
    def definition(self) -> str:
        top = " + ".join(self.plus) + "".join(f" - {kind}" for kind in self.minus)
        if len(self.plus) + len(self.minus) > 1:
            top = f"({top})"
        return f"{top} / {self.denominator}"

    def numerator(self, counts: Mapping[str, int]) -> int:
        """The count divided: the ``plus`` kinds less the ``minus`` ones."""
        return sum(counts.get(k, 0) for k in self.plus) - sum(counts.get(k, 0) for k in self.minus)

    def of(self, counts: Mapping[str, int]) -> float | None:
        """``numerator / denominator``, ``None`` when the denominator is 0."""
        below = count_of(counts, self.denominator)
        if not below:
            return None
        return self.numerator(counts) / below


RATES: tuple[Rate, ...] = (
    Rate("delivered_rate", "Delivered", ("delivered",), "sent"),
    Rate("bounce_rate", "Bounced (hard)", ("failed_permanent",), "processed", minus=("suppressed",)),
    # AWS SES's bounce rate, hard bounces per email sent: suppression drops never reach the
    # provider, so they are neither bounces nor sends (``processed`` counts them).
    Rate("sent_bounce_rate", "Bounced (hard) of sent", ("failed_permanent",), "sent", minus=("suppressed",)),
    Rate("suppressed_rate", "Suppressed", ("suppressed",), "accepted"),
    Rate("temporary_fail_rate", "Deferred (soft)", ("failed_temporary",), "processed"),
    Rate("opened_rate", "Opens", ("opened",), "delivered"),
    Rate("unique_opened_rate", "Unique opens", ("opened_unique",), "delivered"),
    Rate("unique_opened_human_rate", "Unique opens (human)", ("opened_unique_human",), "delivered"),
    Rate("clicked_rate", "Clicks", ("clicked",), "delivered"),
    Rate("unique_clicked_rate", "Unique clicks", ("clicked_unique",), "delivered"),
    Rate("unique_clicked_human_rate", "Unique clicks (human)", ("clicked_unique_human",), "delivered"),
    Rate("click_to_open_rate", "Click-to-open", ("clicked_unique",), "opened_unique"),
    Rate("click_to_open_human_rate", "Click-to-open (human)", ("clicked_unique_human",), "opened_unique_human"),
    Rate("unsubscribed_rate", "Unsubscribed", ("unsubscribed",), "delivered"),
    Rate("complained_rate", "Complaints", ("complained",), "delivered"),
)
BY_NAME = {rate.name: rate for rate in RATES}


def rates(counts: Mapping[str, int]) -> dict[str, float | None]:
    """Every rate of :data:`RATES` for one set of counts."""
    return {rate.name: rate.of(counts) for rate in RATES}
