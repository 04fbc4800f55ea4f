"""Reputation thresholds and the gauge: which level a bounce or complaint rate is at against the
limits AWS SES and Gmail/Yahoo enforce."""

from __future__ import annotations

import re

import pytest

from postgate_dashboard.web.reputation import BOUNCE_LIMITS, COMPLAINT_LIMITS, classify, verdict
from postgate_dashboard.web.reputation_view import gauge


@pytest.mark.parametrize(("rate", "level", "reached"), [
    (None, "none", 0), (0.0, "ok", 0), (0.0499, "ok", 0), (0.05, "warn", 1), (0.0999, "warn", 1),
    (0.10, "bad", 2), (0.5, "bad", 2)])
def test_bounce_rates_against_the_aws_limits(rate, level, reached) -> None:
    got, limits = classify(rate, BOUNCE_LIMITS)
    assert (got, len(limits)) == (level, reached)


@pytest.mark.parametrize(("rate", "level", "text"), [
    (0.0009, "ok", "below every threshold"),
    (0.001, "warn", "account under review"),  # AWS review and Gmail/Yahoo's 0.1% both start here
    (0.0029, "warn", "account under review"),
    (0.003, "bad", "Gmail/Yahoo: never to reach"),
    (0.005, "bad", "AWS SES: sending may be paused")])
def test_complaint_rates_against_aws_and_gmail_yahoo(rate, level, text) -> None:
    got, reached = classify(rate, COMPLAINT_LIMITS)
    assert got == level
    assert verdict(got, reached).startswith(text) or text in verdict(got, reached)


def test_no_denominator_is_no_data_not_zero() -> None:
    assert verdict(*classify(None, COMPLAINT_LIMITS)) == "no data"


def test_the_gauge_marks_each_window_and_every_threshold() -> None:
    svg = str(gauge([("7 days", 0.12), ("30 days", None)], BOUNCE_LIMITS, "Bounces <b>"))
    assert svg.count('class="tick"') == 2 and ">5.0%<" in svg and ">10.0%<" in svg
    assert svg.count('class="marker m0"') == 1 and "m1" not in svg  # no denominator, no marker
    assert "7 days: 12.00%" in svg and "Bounces &lt;b&gt;" in svg and "style=" not in svg
    # A rate beyond the scale sits at its end and says so; the thresholds keep their places.
    wide = str(gauge([("7 days", 0.9)], BOUNCE_LIMITS, "b"))
    marker = float(re.search(r'class="marker m0" x1="([\d.]+)"', wide)[1])
    ticks = [float(x) for x in re.findall(r'class="tick" x1="([\d.]+)"', wide)]
    assert marker == 790.0 and ticks == [205.0, 400.0] and "90.00% (beyond the scale)" in wide
