"""CSV exports of the pages whose tables are built in one read (the bounce explorer's group tables,
a send's funnel and top links, the Operations page, the Reputation page): each is made from the
very figures the page renders (the view's own context), as numbers a spreadsheet can sum (counts
as integers, shares and rates as fractions with six decimals, durations in seconds), every text
cell made inert (:func:`.table_export.inert_cell`). Streamed by :func:`.table_export.csv_response`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from .table_export import inert_cell

Rows = list[list[object]]


class ExportError(ValueError):
    """The table asked for is not one the page exports."""


def ratio(value: float | None) -> str:
    """A share or rate as a fraction with six decimals; empty without a denominator."""
    return "" if value is None else f"{value:.6f}"


def utc(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def whole(value: float | None) -> object:
    """A number rounded as the page shows it (durations in seconds); empty when unknown."""
    return "" if value is None else int(round(value))


async def stream(rows: Iterable[Sequence[object]]) -> AsyncIterator[Sequence[object]]:
    """Rows already read, as the async iterator :func:`.table_export.csv_response` streams."""
    for row in rows:
        yield row


def pick(tables: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], Rows]]],
         table: str | None) -> tuple[tuple[str, ...], Callable[[dict[str, Any]], Rows]]:
    """The header and row maker of one of a page's tables (:class:`ExportError` for another)."""
    if table not in tables:
        raise ExportError(f"choose a table: {', '.join(tables)}")
    return tables[table]


# The bounce explorer (``bounces_view.grouped``'s tables).

def _bounce_types(page: dict[str, Any]) -> Rows:
    total = page["total"]
    return [[row["kind"], row["label"], row["n"], ratio(row["n"] / total if total and row["n"] else None)]
            for row in page["kinds"]]


def _bounce_codes(page: dict[str, Any]) -> Rows:
    return [[row["kind"], row["label"], inert_cell(row["code"]), inert_cell(row["enhanced"]), row["n"]]
            for row in page["codes"]]


def _bounce_providers(page: dict[str, Any]) -> Rows:
    return [[row["kind"], row["label"], inert_cell(row["provider"]), inert_cell(row["provider_label"]), row["n"]]
            for row in page["providers"]]


def _bounce_groups(page: dict[str, Any]) -> Rows:
    return [[row["kind"], row["label"], inert_cell(row["code"]), inert_cell(row["enhanced"]),
             inert_cell(row["provider"]), inert_cell(row["provider_label"]), row["n"]] for row in page["groups"]]


#: The bounce explorer's tables: ``?table=`` -> (header, rows of the page's figures).
BOUNCE_TABLES: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], Rows]]] = {
    "type": (("type", "type_name", "failures", "share"), _bounce_types),
    "code": (("type", "type_name", "code", "enhanced_code", "failures"), _bounce_codes),
    "provider": (("type", "type_name", "provider", "provider_name", "failures"), _bounce_providers),
    "groups": (("type", "type_name", "code", "enhanced_code", "provider", "provider_name", "failures"),
               _bounce_groups),
}


# One send (``analytics_view.send_page``'s funnel and top links).

def _funnel(page: dict[str, Any]) -> Rows:
    accepted = page["funnel"][0]["n"] if page["funnel"] else 0
    return [[step["label"], step["n"], ratio(step["n"] / accepted if accepted else None), step["note"]]
            for step in page["funnel"]]


def _links(page: dict[str, Any]) -> Rows:
    return [[inert_cell(link["url"]), link["clicks"], link["unique"], ratio(link["share_value"])]
            for link in page["links"]]


#: A send's tables: ``?table=`` -> (header, rows of the page's figures).
SEND_TABLES: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], Rows]]] = {
    "funnel": (("step", "recipients", "share_of_accepted", "definition"), _funnel),
    "links": (("url", "clicks", "unique_clickers", "share_of_link_clicks"), _links),
}


# The Operations page (``operations_view.operations_page``'s tiles and tables).

def _operations_state(page: dict[str, Any]) -> Rows:
    raw = page["raw"]
    return [[utc(raw["taken_at"]), *(whole(raw[name]) for name in (
        "queue_depth", "oldest_job_age", "in_doubt", "dead_jobs", "send_rate", "max_rate", "sent_24h", "max_24h")),
        inert_cell(raw["quota_source"] or ""), raw["workers_alive"], whole(raw["ingest_lag"]),
        inert_cell(page["ingest_note"])]]


def _operations_newsletters(page: dict[str, Any]) -> Rows:
    return [[inert_cell(row.label), inert_cell(row.domain), inert_cell(" ".join(row.tags)), row.done, row.total,
             row.percent, row.in_doubt, row.failed, whole(row.rate_per_minute),
             whole(row.eta_seconds), utc(row.started_at)] for row in page["newsletters"]]


def _operations_workers(page: dict[str, Any]) -> Rows:
    return [[inert_cell(w["name"]), inert_cell(w["host"]), w["pid"], "alive" if w["alive"] else "silent",
             whole(w["seen_seconds"]), whole(w["up_seconds"])] for w in page["workers"]]


#: The Operations page's tables: ``?table=`` -> (header, rows of the page's figures).
OPERATIONS_TABLES: dict[str, tuple[tuple[str, ...], Callable[[dict[str, Any]], Rows]]] = {
    "state": (("taken_at_utc", "queue_depth", "oldest_job_age_seconds", "in_doubt", "dead_jobs",
               "send_rate_per_minute", "max_rate_per_minute", "sent_24h", "max_24h", "quota_source",
               "workers_alive", "ingest_lag_seconds", "ingest_note"), _operations_state),
    "newsletters": (("newsletter", "domain", "tags", "sent", "total", "percent", "in_doubt", "failed",
                     "rate_per_minute", "eta_seconds", "started_utc"), _operations_newsletters),
    "workers": (("loop", "host", "pid", "state", "last_heartbeat_seconds_ago", "running_seconds"),
                _operations_workers),
}


# The Reputation page (``reputation_view.rate_rows``).

REPUTATION_HEADER = ("rate", "rate_name", "window", "value", "count", "of", "denominator", "level", "standing")


def reputation_rows(page: dict[str, Any]) -> Rows:
    """One row per gauge and window, as the page's rate tables show them."""
    return [[row["name"], row["label"], w["label"], ratio(w["value"]), w["n"], w["of"], row["denominator"],
             w["level"], inert_cell(w["verdict"])] for row in page["rows"] for w in row["windows"]]
