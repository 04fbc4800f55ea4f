"""The Reputation page's figures: bounce and complaint rates over the last 7 and 30 days from the
roll-ups, against the thresholds of :mod:`.reputation`; the provider account's standing
(``Delivery.account_status``); and the domain's set-up from the ``domain_checks`` hook."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from ..rollups import queries
from ..rollups.rates import BY_NAME, Rate, count_of
from .reputation import BOUNCE_LIMITS, COMPLAINT_LIMITS, Limit, classify, verdict

HOUR = 3600
DAY = 24 * HOUR
#: The windows shown: (label, days).
WINDOWS = (("7 days", 7), ("30 days", 30))
#: What each denominator counts, as the page's column header explains it.
DENOMINATORS = {"sent": "sent = delivered + hard bounces: the messages the provider took (suppression drops never reach it)",
                "delivered": "delivered: the messages the recipients' mail servers took"}
#: (rate, limits, whose definition the rate follows) of each gauge: each rate is divided as the
#: ones enforcing its thresholds divide it (see docs/dashboard.md, "Reputation").
GAUGES = (("sent_bounce_rate", BOUNCE_LIMITS,
           "AWS SES's bounce rate: hard bounces per email sent"),
          ("complained_rate", COMPLAINT_LIMITS,
           "Gmail's and Yahoo's spam rate: complaints per message delivered (they count the inbox; "
           "AWS SES divides by emails sent, so its rate is at most this one)"))


def percent(value: float | None, places: int = 2) -> str:
    return "\u2014" if value is None else f"{100 * value:.{places}f}%"


def gauge(values: list[tuple[str, float | None]], limits: tuple[Limit, ...], label: str,
          width: int = 800, height: int = 96) -> Markup:
    """A horizontal scale from 0 to twice the highest limit: green, amber and red zones split at
    the limits, a tick per limit, and a marker per window's rate (the first above the bar, the
    second below; a rate beyond the scale sits at its end, labelled so)."""
    top = 2 * max(l.at for l in limits)
    left, right, bar_y, bar_h = 10, width - 10, 34, 18

    def x(v: float) -> float:
        return round(left + (right - left) * min(v, top) / top, 1)

    warn_at = min(l.at for l in limits if l.level == "warn")
    bad_at = min(l.at for l in limits if l.level == "bad")
    parts = [f'<svg class="gauge" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">',
             f'<title>{escape(label)}</title>',
             f'<rect class="zone ok" x="{left}" y="{bar_y}" width="{x(warn_at) - left}" height="{bar_h}"/>',
             f'<rect class="zone warn" x="{x(warn_at)}" y="{bar_y}" width="{x(bad_at) - x(warn_at)}" height="{bar_h}"/>',
             f'<rect class="zone bad" x="{x(bad_at)}" y="{bar_y}" width="{right - x(bad_at)}" height="{bar_h}"/>']
    for at in sorted({l.at for l in limits}):
        who = " and ".join(sorted({l.who for l in limits if l.at == at}))
        parts.append(f'<line class="tick" x1="{x(at)}" x2="{x(at)}" y1="{bar_y}" y2="{bar_y + bar_h + 5}">'
                     f'<title>{escape(who)} at {escape(percent(at, 1))}</title></line>')
        parts.append(f'<text class="axis" x="{x(at)}" y="{bar_y + bar_h + 17}" text-anchor="middle">'
                     f'{escape(percent(at, 1))}</text>')
    for row, (name, value) in enumerate(values[:2]):
        if value is None:
            continue
        cx = x(value)
        y1, y2, text_y = ((bar_y - 6, bar_y + bar_h / 2, bar_y - 10) if row == 0
                          else (bar_y + bar_h / 2, bar_y + bar_h + 6, bar_y + bar_h + 36))
        anchor = "start" if cx < width / 2 else "end"
        beyond = " (beyond the scale)" if value > top else ""
        parts.append(f'<line class="marker m{row}" x1="{cx}" x2="{cx}" y1="{y1}" y2="{y2}"/>')
        parts.append(f'<text class="marker-label m{row}" x="{cx}" y="{text_y}" text-anchor="{anchor}">'
                     f'{escape(name)}: {escape(percent(value))}{beyond}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def window_figures(rate: Rate, counts: Mapping[str, int], limits: tuple[Limit, ...], label: str) -> dict[str, Any]:
    """One window of one rate: its numerator, denominator and rate from the same counts (the
    rate is ``n / of`` of the row it is shown in), and its standing against ``limits``."""
    n, of = rate.numerator(counts), count_of(counts, rate.denominator)
    value = n / of if of else None
    level, reached = classify(value, limits)
    return {"label": label, "n": n, "of": of, "value": value, "rate": percent(value), "level": level,
            "verdict": verdict(level, reached)}


async def rate_rows(gateway: Any, domain: str, now: float) -> list[dict[str, Any]]:
    """One row per gauge: each window's count, denominator, rate and level, and the gauge."""
    end = int(now) - int(now) % HOUR + HOUR
    totals = {label: await queries.totals(gateway, domain, end - days * DAY, end) for label, days in WINDOWS}
    rows = []
    for name, limits, basis in GAUGES:
        rate = BY_NAME[name]
        windows = [window_figures(rate, totals[label], limits, label) for label, _ in WINDOWS]
        rows.append({"name": name, "label": rate.label, "denominator": rate.denominator,
                     "denominator_meaning": DENOMINATORS[rate.denominator], "definition": rate.definition,
                     "basis": basis, "windows": windows,
                     "limits": [{"at": percent(l.at, 1), "who": l.who, "what": l.what, "level": l.level} for l in limits],
                     "gauge": gauge([(w["label"], w["value"]) for w in windows], limits,
                                    f"{rate.label} over the last 7 and 30 days against the thresholds")})
    return rows


async def account_state(gateway: Any) -> dict[str, Any]:
    """The delivery's account standing, or why there is none."""
    delivery_name = gateway.settings.backends.delivery
    status = await gateway.delivery.account_status()
    if status is None:
        reason = ("no provider reputation (outbox)" if delivery_name == "outbox"
                  else f"the {delivery_name} delivery reports no account state")
        return {"delivery": delivery_name, "status": None, "reason": reason}

    def yes_no(value: bool | None, yes: str, no: str) -> str:
        return "\u2014" if value is None else yes if value else no

    enforcement = status.enforcement_status or "\u2014"
    level = {"HEALTHY": "ok", "PROBATION": "warn", "SHUTDOWN": "bad"}.get(status.enforcement_status or "", "none")
    return {"delivery": delivery_name, "reason": None, "status": {
        "source": status.source, "enforcement": enforcement, "enforcement_level": level,
        "sending": yes_no(status.sending_enabled, "enabled", "paused"),
        "sending_level": "none" if status.sending_enabled is None else "ok" if status.sending_enabled else "bad",
        "production": yes_no(status.production, "production access", "sandbox"),
        "read_at": datetime.fromtimestamp(status.read_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if status.read_at else "\u2014"}}


async def domain_checks(gateway: Any, domain: str) -> list[dict[str, str]] | None:
    """Every ``domain_checks`` hook result for ``domain``; ``None`` when no plugin answered."""
    found: list[Any] = []
    for value in gateway.pm.hook.domain_checks(gateway=gateway, domain=domain):
        if inspect.isawaitable(value):
            value = await value
        if value:
            found.extend(value)
    if not found:
        return None
    return [{"name": c.name, "status": c.status, "detail": c.detail, "fix": c.fix,
             "level": {"PASS": "ok", "WARN": "warn", "FAIL": "bad"}.get(c.status, "none")} for c in found]


async def reputation_page(gateway: Any, domain: str) -> dict[str, Any]:
    now = gateway.now()
    return {"rows": await rate_rows(gateway, domain, now), "provider": await account_state(gateway),
            "checks": await domain_checks(gateway, domain),
            "as_of": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M UTC")}
