"""The analytics pages' figures: the overview, the sends and one send, and mailbox providers,
all read from the roll-ups (``rollups.queries``) with the rates defined in ``rollups.rates``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..rollups import queries
from ..rollups.rates import BY_NAME, count_of, rates
from .charts import bar, line_chart, sparkline
from .operations_view import duration
from .send_curve import send_curve
from .table_export import EXPORT_STEP, inert_cell

HOUR = 3600
DAY = 24 * HOUR
#: The period picker's choices: name -> seconds.
PERIODS = {"24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY, "90d": 90 * DAY}
RESOLUTIONS = ("hour", "day", "month")
#: Most buckets one chart draws (a longer period needs a coarser resolution).
MAX_BUCKETS = 800
#: Longest custom period.
MAX_CUSTOM = 400 * DAY
#: Sends an "against your average" compares with.
AVERAGE_OF = 10
SENDS_PAGE = 25
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: The human/all toggle (``?who=``): opens and clicks a bot made count under "all" only.
#: "human" is the default; the raw events and both sets of counts are always kept.
WHO = ("human", "all")
#: Per who: (unique opens, unique clicks) count kinds and their rates.
ENGAGED = {
    "all": {"opened": "opened_unique", "clicked": "clicked_unique", "open_rate": "unique_opened_rate",
            "click_rate": "unique_clicked_rate", "cto": "click_to_open_rate"},
    "human": {"opened": "opened_unique_human", "clicked": "clicked_unique_human",
              "open_rate": "unique_opened_human_rate", "click_rate": "unique_clicked_human_rate",
              "cto": "click_to_open_human_rate"},
}


def cards_for(who: str) -> tuple[tuple[str, str], ...]:
    """The overview's cards for ``who``: (rate, count shown beside it)."""
    e = ENGAGED[who]
    return (("delivered_rate", "delivered"), (e["open_rate"], e["opened"]), (e["click_rate"], e["clicked"]),
            (e["cto"], e["clicked"]), ("unsubscribed_rate", "unsubscribed"), ("complained_rate", "complained"),
            ("bounce_rate", "bounced"), ("temporary_fail_rate", "failed_temporary"))


def parse_who(args: Any) -> str:
    """``who`` of a query string: ``human`` (the default) or ``all``."""
    who = args.get("who") or "human"
    if who not in WHO:
        raise PeriodError("who must be human or all")
    return who

#: Rates where a rise is bad news (the change is shown in the warning colour).
WORSE_WHEN_UP = {"complained_rate", "bounce_rate", "temporary_fail_rate", "unsubscribed_rate"}


def chart_lines(who: str) -> tuple[tuple[str, str, str], ...]:
    """The main chart's lines: (count, label, css class)."""
    e, human = ENGAGED[who], " (human)" if who == "human" else ""
    return (("accepted", "Accepted", "s-accepted"), ("delivered", "Delivered", "s-delivered"),
            (e["opened"], "Unique opens" + human, "s-opened"), (e["clicked"], "Unique clicks" + human, "s-clicked"))


class PeriodError(ValueError):
    """The period in the query string cannot be shown; the text says why."""


@dataclass(frozen=True, slots=True)
class Period:
    name: str
    start: int
    end: int
    resolution: queries.Resolution

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def previous(self) -> tuple[int, int]:
        return self.start - self.length, self.start

    @property
    def span(self) -> str:
        hours = self.length // HOUR
        return f"{hours} h" if hours < 48 else f"{hours // 24} days"

    @property
    def label(self) -> str:
        return f"{stamp(self.start)} – {stamp(self.end)} UTC"


def stamp(epoch: float, with_time: bool = True) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _day(text: str, what: str) -> int:
    if not DATE.match(text):
        raise PeriodError(f"{what} must be a date like 2026-01-31")
    try:
        return int(datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise PeriodError(f"{what} is not a real date") from None


def parse_period(args: Any, now: float) -> Period:
    """The period of a query string: ``period`` (24h, 7d, 30d, 90d or custom with ``from`` and
    ``to`` dates, ``to`` included) and ``res`` (hour, day or month)."""
    name = args.get("period") or "7d"
    resolution = args.get("res") or ("hour" if name == "24h" else "day")
    if resolution not in RESOLUTIONS:
        raise PeriodError("resolution must be hour, day or month")
    if name == "custom":
        start = _day(args.get("from") or "", "from")
        end = _day(args.get("to") or "", "to") + DAY
        if end <= start:
            raise PeriodError("the period must end after it starts")
        if end - start > MAX_CUSTOM:
            raise PeriodError("a custom period is at most 400 days")
    elif name in PERIODS:
        end = int(now) - int(now) % HOUR + HOUR
        start = end - PERIODS[name]
    else:
        raise PeriodError("period must be 24h, 7d, 30d, 90d or custom")
    if len(queries.bucket_starts(start, end, resolution)) > MAX_BUCKETS:
        raise PeriodError("too many points: choose a coarser resolution for this period")
    return Period(name, start, end, resolution)


def bucket_label(at: int, resolution: str) -> str:
    fmt = {"hour": "%m-%d %H:00", "day": "%Y-%m-%d", "month": "%Y-%m"}[resolution]
    return datetime.fromtimestamp(at, UTC).strftime(fmt)


def percent(value: float | None) -> str:
    return "\u2014" if value is None else f"{100 * value:.1f}%"


def change_text(now: float | None, before: float | None) -> str:
    """Change in percentage points, or a dash when either side has no denominator."""
    if now is None or before is None:
        return "no previous figure"
    points = 100 * (now - before)
    return f"{'+' if points >= 0 else '−'}{abs(points):.1f} pts vs previous period"


def change_class(name: str, now: float | None, before: float | None) -> str:
    if now is None or before is None or abs(now - before) < 1e-9:
        return "flat"
    worse = (now > before) == (name in WORSE_WHEN_UP)
    return "worse" if worse else "better"


def bucket_rates(series: dict[str, list[int]], size: int, names: Sequence[str]) -> dict[str, list[float | None]]:
    """The rates ``names`` in each bucket: ``{name: [rate of bucket 0, …]}``."""
    wanted = [BY_NAME[name] for name in names]
    out: dict[str, list[float | None]] = {name: [] for name in names}
    for i in range(size):
        counts = {kind: values[i] for kind, values in series.items() if values[i]}
        for rate in wanted:
            out[rate.name].append(rate.of(counts))
    return out


async def overview_page(gateway: Any, domain: str, period: Period, who: str = "human") -> dict[str, Any]:
    """Cards with sparklines and change, the main chart and its table."""
    now = await queries.overview(gateway, domain, period.start, period.end, period.resolution)
    before_start, before_end = period.previous
    before_rates = rates(await queries.totals(gateway, domain, before_start, before_end))
    per_bucket = bucket_rates(now.series, len(now.buckets), [name for name, _ in cards_for(who)])
    cards = []
    for name, count in cards_for(who):
        rate = BY_NAME[name]
        cards.append({
            "name": name, "label": rate.label, "value": percent(now.rates[name]),
            "count": count_of(now.totals, count), "count_kind": count,
            "definition": rate.definition,
            "denominator": rate.denominator, "denominator_n": count_of(now.totals, rate.denominator),
            "change": change_text(now.rates[name], before_rates[name]),
            "change_class": change_class(name, now.rates[name], before_rates[name]),
            "spark": sparkline(per_bucket[name], f"{rate.label} per {period.resolution}"),
        })
    labels = [bucket_label(b, period.resolution) for b in now.buckets]
    chart = chart_lines(who)
    lines = [(label, css, now.series.get(kind, [0] * len(now.buckets))) for kind, label, css in chart]
    table = [{"label": labels[i], "counts": [values[i] for _, _, values in lines]} for i in range(len(labels))]
    return {"cards": cards, "chart": line_chart(labels, lines), "legend": [(l, c) for _, l, c in chart],
            "table": table, "columns": [l for _, l, _ in chart], "totals": now.totals,
            "machine_opens": now.totals.get("opened_machine", 0), "machine_clicks": now.totals.get("clicked_machine", 0)}


def send_row(row: queries.SendRow, who: str = "human") -> dict[str, Any]:
    e = ENGAGED[who]
    return {"key": row.send_key, "email_id": row.email_id, "subject": row.subject, "tags": row.tags,
            "when": stamp(row.first_at), "accepted": row.counts.get("accepted", 0),
            "delivered": percent(row.rates["delivered_rate"]), "opened": percent(row.rates[e["open_rate"]]),
            "clicked": percent(row.rates[e["click_rate"]]), "bounced": percent(row.rates["bounce_rate"])}


async def sends_page(gateway: Any, domain: str, before: tuple[int, int] | None, who: str = "human") -> dict[str, Any]:
    page = await queries.sends(gateway, domain, limit=SENDS_PAGE, before=before)
    cursor = f"{page.next_cursor[0]}-{page.next_cursor[1]}" if page.next_cursor else None
    return {"rows": [send_row(r, who) for r in page.items], "next_cursor": cursor}


def sends_csv_header(who: str) -> list[str]:
    """The columns of the newsletters export; opens and clicks are the ``who`` variant's."""
    human = "_human" if who == "human" else ""
    return ["first_event_utc", "last_event_utc", "send", "email_id", "subject", "tags", "accepted", "delivered",
            "hard_bounces", "suppressed", "deferred", "complained", "unsubscribed", f"unique_opens{human}",
            f"unique_clicks{human}", "delivered_rate", "bounce_rate", f"unique_open_rate{human}",
            f"unique_click_rate{human}", f"click_to_open_rate{human}", "complaint_rate", "unsubscribe_rate"]


def exact_stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ratio(value: float | None) -> str:
    """A rate as a fraction with six decimals for a spreadsheet; empty without a denominator."""
    return "" if value is None else f"{value:.6f}"


def sends_csv_row(row: queries.SendRow, who: str) -> list[object]:
    e, c = ENGAGED[who], row.counts
    return [exact_stamp(row.first_at), exact_stamp(row.last_at), inert_cell(row.send_key), inert_cell(row.email_id or ""),
            inert_cell(row.subject), inert_cell(" ".join(row.tags)), c.get("accepted", 0), c.get("delivered", 0),
            c.get("failed_permanent", 0) - c.get("suppressed", 0), c.get("suppressed", 0),
            c.get("failed_temporary", 0), c.get("complained", 0), c.get("unsubscribed", 0),
            c.get(e["opened"], 0), c.get(e["clicked"], 0),
            *(_ratio(row.rates[name]) for name in ("delivered_rate", "bounce_rate", e["open_rate"],
                                                   e["click_rate"], e["cto"], "complained_rate",
                                                   "unsubscribed_rate"))]


async def sends_csv_rows(gateway: Any, domain: str, who: str = "human",
                         step: int = EXPORT_STEP) -> AsyncIterator[list[object]]:
    """Every send of ``domain``, newest first, read in keyset steps of ``step`` while written."""
    before: tuple[int, int] | None = None
    while True:
        page = await queries.sends(gateway, domain, limit=step, before=before)
        for row in page.items:
            yield sends_csv_row(row, who)
        if page.next_cursor is None:
            return
        before = page.next_cursor


def funnel(counts: dict[str, int], who: str = "human") -> list[dict[str, Any]]:
    """Accepted → sent → delivered → opened → clicked, each as a share of accepted."""
    e, human = ENGAGED[who], ", bots left out" if who == "human" else ""
    accepted = counts.get("accepted", 0)
    sent = max(0, accepted - counts.get("suppressed", 0) - counts.get("rejected", 0))
    steps = [("Accepted", "accepted by the API", accepted),
             ("Sent", "accepted − suppressed − rejected: handed to the provider", sent),
             ("Delivered", "delivered events", counts.get("delivered", 0)),
             ("Opened", f"recipients who opened (each once{human})", counts.get(e["opened"], 0)),
             ("Clicked", f"recipients who clicked (each once{human})", counts.get(e["clicked"], 0))]
    return [{"label": label, "note": note, "n": n, "share": percent(n / accepted if accepted else None),
             "bar": bar(n / accepted if accepted else 0, "funnel-bar")} for label, note, n in steps]


def average_rates(who: str) -> tuple[str, ...]:
    e = ENGAGED[who]
    return ("delivered_rate", e["open_rate"], e["click_rate"], e["cto"], "bounce_rate", "complained_rate",
            "unsubscribed_rate")


def against_average(row: queries.SendRow, earlier: list[queries.SendRow], who: str = "human") -> list[dict[str, Any]]:
    """This send's rates beside the mean of the same rate over ``earlier`` sends (those that had
    a denominator)."""
    out = []
    for name in average_rates(who):
        known = [r.rates[name] for r in earlier if r.rates.get(name) is not None]
        mean = sum(known) / len(known) if known else None
        out.append({"label": BY_NAME[name].label, "definition": BY_NAME[name].definition,
                    "value": percent(row.rates[name]), "average": percent(mean),
                    "change": "\u2014" if mean is None or row.rates[name] is None
                    else f"{'+' if row.rates[name] >= mean else '−'}{abs(100 * (row.rates[name] - mean)):.1f} pts",
                    "change_class": change_class(name, row.rates[name], mean)})
    return out


def newsletter_of(snapshot: Any, domain: str, email_id: str | None) -> Any:
    """The send's entry in the operations snapshot (``None`` when it is not there: never had an
    email id, or finished more than a minute ago)."""
    if not email_id:
        return None
    for item in getattr(snapshot, "newsletters", None) or []:
        if item.domain == domain and item.email_id == email_id:
            return item
    return None


def progress_figures(item: Any) -> dict[str, Any]:
    total = item.total or 0
    fraction = item.done / total if total else 1.0
    return {"done": item.done, "total": total, "fraction": fraction, "percent": percent(fraction),
            "rate": f"{item.rate * 60:,.0f}/min" if item.rate else "\u2014",
            "eta": duration(item.eta_seconds), "bar": bar(fraction, "progress-bar")}


def progress_of(snapshot: Any, domain: str, email_id: str | None) -> dict[str, Any] | None:
    """The send's progress from the operations snapshot while it is going out (``None`` once done)."""
    item = newsletter_of(snapshot, domain, email_id)
    return None if item is None or item.finished else progress_figures(item)


def progress_update(item: Any) -> dict[str, Any]:
    """What the live stream of a send page sends for its snapshot entry ``item``: the figures as
    shown, and ``finished`` once the send has gone out (then the page's other figures are worth
    a reload; no figures when the entry is gone from the snapshot)."""
    if item is None:
        return {"finished": True}
    figures = progress_figures(item)
    return {"finished": item.finished, "done": f"{figures['done']:,}", "total": f"{figures['total']:,}",
            "fraction": round(figures["fraction"], 4), "percent": figures["percent"],
            "rate": figures["rate"], "eta": figures["eta"]}


def link_rows(links: list[queries.LinkRow]) -> list[dict[str, Any]]:
    """Top links as the send page shows them; only http(s) URLs become links."""
    return [{"url": link.url, "href": link.url if link.url.lower().startswith(("http://", "https://")) else None,
             "clicks": link.clicks, "unique": link.unique, "share": percent(link.share), "share_value": link.share,
             "bar": bar(link.share or 0, "link-bar", 80, 8)} for link in links]


#: Links the send page lists.
TOP_LINKS = 10


async def send_email_id(gateway: Any, domain: str, key: str) -> tuple[bool, str | None]:
    """Whether the send exists, and its Ghost email id (what its progress is found by)."""
    row = await queries.send_summary(gateway, domain, key)
    return (False, None) if row is None else (True, row.email_id)


async def send_page(gateway: Any, domain: str, key: str, who: str = "human") -> dict[str, Any] | None:
    row = await queries.send_summary(gateway, domain, key)
    if row is None:
        return None
    earlier = await queries.sends(gateway, domain, limit=AVERAGE_OF, before=(row.first_at, row.id))
    snapshot = await gateway.operations_snapshot()
    c = row.counts
    failures = [("Hard bounces", c.get("failed_permanent", 0) - c.get("suppressed", 0)),
                ("Dropped (suppressed)", c.get("suppressed", 0)),
                ("Deferred (soft)", c.get("failed_temporary", 0)),
                ("Rejected", c.get("rejected", 0)), ("Complaints", c.get("complained", 0)),
                ("Unsubscribes", c.get("unsubscribed", 0))]
    links = await queries.top_links(gateway, domain, key, who=who, limit=TOP_LINKS)
    return {"send": send_row(row), "first": stamp(row.first_at), "last": stamp(row.last_at),
            "funnel": funnel(c, who), "failures": failures, "average": against_average(row, earlier.items, who),
            "links": link_rows(links), "machine_clicks": c.get("clicked_machine", 0),
            "machine_opens": c.get("opened_machine", 0),
            "average_of": len(earlier.items), "progress": progress_of(snapshot, domain, row.email_id),
            "curve": await send_curve(gateway, domain, row.email_id, c.get("delivered", 0)),
            "message_id": None if row.email_id else row.send_key}


async def send_tables(gateway: Any, domain: str, key: str, who: str = "human") -> dict[str, Any] | None:
    """A send's funnel and top links built as its page builds them (what the send's CSV exports
    write); ``None`` for an unknown send."""
    row = await queries.send_summary(gateway, domain, key)
    if row is None:
        return None
    links = await queries.top_links(gateway, domain, key, who=who, limit=TOP_LINKS)
    return {"funnel": funnel(row.counts, who), "links": link_rows(links)}


async def send_figures(gateway: Any, domain: str, key: str, who: str = "human") -> dict[str, Any] | None:
    """What the send page redraws while the send goes out: its curve and its funnel, from one read
    of the roll-ups (so they show the same delivered count); ``None`` for an unknown send."""
    row = await queries.send_summary(gateway, domain, key)
    if row is None:
        return None
    return {"curve": await send_curve(gateway, domain, row.email_id, row.counts.get("delivered", 0)),
            "funnel": funnel(row.counts, who)}


def provider_columns(who: str) -> tuple[tuple[str, str, str], ...]:
    e = ENGAGED[who]
    return (("delivered", "Delivered", "delivered_rate"), ("failed_temporary", "Deferred", "temporary_fail_rate"),
            ("bounced", "Bounced", "bounce_rate"), ("complained", "Complained", "complained_rate"),
            (e["opened"], "Opened" + (" (human)" if who == "human" else ""), e["open_rate"]))


async def providers_page(gateway: Any, domain: str, period: Period, who: str = "human") -> dict[str, Any]:
    rows = await queries.by_provider(gateway, domain, period.start, period.end)
    columns = provider_columns(who)
    out = []
    for row in rows:
        cells = []
        for kind, _label, rate in columns:
            value = row.rates.get(rate)
            cells.append({"n": count_of(row.counts, kind), "rate": percent(value), "bar": bar(value, f"b-{kind}", 80, 8)})
        out.append({"provider": row.provider, "label": row.label, "accepted": row.counts.get("accepted", 0),
                    "cells": cells})
    return {"rows": out, "columns": [(label, BY_NAME[rate].definition) for _, label, rate in columns]}


#: The overview export's count columns: every kind the roll-ups keep, whatever the toggle.
OVERVIEW_KINDS = ("accepted", "delivered", "failed_permanent", "suppressed", "failed_temporary", "rejected",
                  "complained", "unsubscribed", "stored", "opened", "opened_machine", "opened_unique",
                  "opened_unique_human", "clicked", "clicked_machine", "clicked_unique", "clicked_unique_human")
#: The providers export: (column, count kind or rate name).
PROVIDER_EXPORT = (("accepted", "accepted"), ("delivered", "delivered"), ("deferred", "failed_temporary"),
                   ("hard_bounces", "bounced"), ("suppressed", "suppressed"), ("complained", "complained"),
                   ("unique_opens", "opened_unique"), ("unique_opens_human", "opened_unique_human"),
                   ("unique_clicks", "clicked_unique"), ("unique_clicks_human", "clicked_unique_human"))
PROVIDER_RATES = (("delivered_rate", "delivered_rate"), ("deferred_rate", "temporary_fail_rate"),
                  ("bounce_rate", "bounce_rate"), ("complaint_rate", "complained_rate"),
                  ("unique_open_rate", "unique_opened_rate"), ("unique_open_rate_human", "unique_opened_human_rate"))


async def overview_csv(gateway: Any, domain: str, period: Period) -> tuple[list[str], AsyncIterator[list[object]]]:
    """The period's counts per bucket (every kind, so both sides of the toggle), oldest first."""
    now = await queries.overview(gateway, domain, period.start, period.end, period.resolution)

    async def rows() -> AsyncIterator[list[object]]:
        for i, bucket in enumerate(now.buckets):
            yield [exact_stamp(bucket), *(now.series.get(kind, [0] * len(now.buckets))[i] for kind in OVERVIEW_KINDS)]

    return [f"{period.resolution}_start_utc", *OVERVIEW_KINDS], rows()


async def providers_csv(gateway: Any, domain: str, period: Period) -> tuple[list[str], AsyncIterator[list[object]]]:
    """Counts and rates per mailbox provider over the period (human and all columns both)."""
    found = await queries.by_provider(gateway, domain, period.start, period.end)

    async def rows() -> AsyncIterator[list[object]]:
        for row in found:
            yield [row.provider, row.label, *(count_of(row.counts, kind) for _, kind in PROVIDER_EXPORT),
                   *(_ratio(row.rates.get(name)) for _, name in PROVIDER_RATES)]

    return ["provider", "provider_name", *(c for c, _ in PROVIDER_EXPORT), *(c for c, _ in PROVIDER_RATES)], rows()
