"""The send page's progress curve: recipients sent and delivered over time, drawn from the send's
progress samples (:mod:`.progress_samples`), with the same numbers as a table.

A sample's delivered count is the roll-ups' as the sampler read them, up to a sample slot ago; the
funnel reads the roll-ups as the page is drawn. So that the two never disagree, the curve's last
point takes the delivered count the funnel shows (read once, for both)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from .charts import time_curve
from .progress_samples import Sample, samples_of

#: Most points one line draws, and most rows the table shows (evenly thinned, the last kept).
MAX_POINTS = 300
MAX_ROWS = 48
LINES = (("Sent", "s-accepted", "done"), ("Delivered", "s-delivered", "delivered"))


def thin(items: list[Any], most: int) -> list[Any]:
    """At most ``most`` of ``items``, evenly spread, the first and the last always kept."""
    if len(items) <= most:
        return items
    step = (len(items) - 1) / (most - 1)
    return [items[round(i * step)] for i in range(most)]


def clock(at: int, span: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S" if span < 600 else "%m-%d %H:%M" if span > 86400 else "%H:%M")


def per_minute(before: Sample | None, now: Sample) -> str:
    if before is None or now.at <= before.at:
        return "\u2014"
    return f"{(now.done - before.done) * 60 / (now.at - before.at):,.0f}/min"


def curve(samples: list[Sample], delivered: int | None = None) -> dict[str, Any] | None:
    """The chart, legend and table of a send's samples (``None`` when it has none); ``delivered``,
    the roll-ups' count as the funnel shows it, is the last point's."""
    if not samples:
        return None
    if delivered is not None:
        samples = [*samples[:-1], dataclasses.replace(samples[-1], delivered=delivered)]
    start = min(s.started_at for s in samples)
    end = max(samples[-1].at, start + 1)
    total = samples[-1].total
    span = end - start
    drawn = thin(samples, MAX_POINTS)
    series = [(label, css, [(start, 0)] + [(s.at, getattr(s, field)) for s in drawn]) for label, css, field in LINES]
    ticks = [(start, clock(start, span)), (start + span // 2, clock(start + span // 2, span)), (end, clock(end, span))]
    shown = thin(samples, MAX_ROWS)
    rows = [{"when": clock(s.at, span), "done": s.done, "total": s.total, "delivered": s.delivered, "failed": s.failed,
             "share": f"{100 * s.done / s.total:.1f}%" if s.total else "\u2014",
             "rate": per_minute(shown[i - 1] if i else None, s)} for i, s in enumerate(shown)]
    return {"chart": time_curve(start, end, total, series, ticks), "legend": [(label, css) for label, css, _ in LINES],
            "rows": rows, "samples": len(samples), "first": clock(start, span), "last": clock(end, span),
            "utc_day": datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d")}


async def send_curve(gateway: Any, domain: str, email_id: str | None,
                     delivered: int | None = None) -> dict[str, Any] | None:
    """The curve of a Ghost send (none for a send without an email id, or never sampled), its last
    point at ``delivered`` (the funnel's count)."""
    return curve(await samples_of(gateway, domain, email_id), delivered) if email_id else None
