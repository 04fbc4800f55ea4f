"""The recipient timeline: every stored event of one address or one message, oldest first, read
through ``gateway.storage.page_events`` with the events API's own filter terms."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from postgate import Event, EventQuery, Term

from .event_reads import parse_cursor
from .table_export import EXPORT_STEP, inert_cell

PAGE_SIZE = 50
SEARCH_KINDS = ("recipient", "message")
MAX_SEARCH = 320
CSV_HEADER = ("time_utc", "event", "recipient", "message_id", "severity", "reason", "status_code",
              "provider_reply", "client", "url", "event_id")


class SearchError(ValueError):
    """The search cannot run as asked; the text says why."""


@dataclass(frozen=True, slots=True)
class Search:
    domain: str
    kind: str
    value: str
    after: tuple[int, int] | None = None

    def query(self, limit: int) -> EventQuery:
        if self.kind == "message":
            term = Term("message-id", self.value.strip().strip("<>").strip())
        else:
            term = Term("recipient", self.value.strip())
        return EventQuery(domain=self.domain, ascending=True, filter=term, limit=limit, after=self.after)


def parse_search(domains: list[str], args: Any) -> Search | None:
    """The search in a query string, or ``None`` when nothing was asked yet."""
    value = (args.get("q") or "").strip()
    if not value:
        return None
    if len(value) > MAX_SEARCH:
        raise SearchError(f"search at most {MAX_SEARCH} characters")
    domain = (args.get("domain") or (domains[0] if domains else "")).lower()
    if domain not in domains:
        raise SearchError("choose one of the sending domains")
    kind = args.get("by") or ("recipient" if "@" in value and not value.startswith("<") else "message")
    if kind not in SEARCH_KINDS:
        raise SearchError("search by recipient or by message id")
    return Search(domain, kind, value, parse_cursor(args.get("after"), SearchError, "start the search again"))


def cursor_of(event: Event) -> str:
    return f"{event.recorded_at}-{event.id}"


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def event_row(event: Event) -> dict[str, Any]:
    """What one timeline row shows, and the exact event JSON the events API returns for it."""
    body = event.to_mailgun()
    status = body.get("delivery-status") if isinstance(body.get("delivery-status"), dict) else {}
    client = body.get("client-info") if isinstance(body.get("client-info"), dict) else {}
    geo = body.get("geolocation") if isinstance(body.get("geolocation"), dict) else {}
    message = body.get("message") if isinstance(body.get("message"), dict) else {}
    headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    reply = " ".join(str(status[k]) for k in ("message", "description") if status.get(k))
    client_text = ", ".join(str(client[k]) for k in ("client-name", "client-os", "device-type") if client.get(k))
    place = ", ".join(str(geo[k]) for k in ("city", "region", "country") if geo.get(k) and geo[k] != "Unknown")
    return {
        "id": body.get("id"),
        "time": when(body["timestamp"]),
        "event": event.event,
        "recipient": event.recipient or "",
        "message_id": event.message_id or "",
        "subject": headers.get("subject") or "",
        "tags": [str(t) for t in body.get("tags") or [] if isinstance(t, str | int)],
        "severity": body.get("severity") or "",
        "reason": body.get("reason") or "",
        "code": status.get("code", ""),
        "enhanced": status.get("enhanced-code", ""),
        "reply": reply,
        "mx": status.get("mx-host", ""),
        "client": client_text,
        "user_agent": client.get("user-agent", ""),
        "ip": body.get("ip", ""),
        "place": place,
        "url": body.get("url", ""),
        "json": json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False),
    }


async def timeline_page(gateway: Any, search: Search) -> dict[str, Any]:
    """One page of the search: rows, and the cursor of the next page when there is one."""
    events = await gateway.storage.page_events(search.query(PAGE_SIZE + 1))
    shown = events[:PAGE_SIZE]
    more = len(events) > PAGE_SIZE
    return {"rows": [event_row(e) for e in shown], "next_after": cursor_of(shown[-1]) if more else None}


async def timeline_csv_rows(gateway: Any, search: Search) -> AsyncIterator[list[object]]:
    """Every event of the search as CSV cells, read :data:`EXPORT_STEP` at a time."""
    while True:
        events = await gateway.storage.page_events(search.query(EXPORT_STEP))
        for event in events:
            row = event_row(event)
            # Free text a sender or provider wrote is made inert; ids and times are kept exact.
            yield [row["time"], row["event"], inert_cell(row["recipient"]), row["message_id"], row["severity"],
                   inert_cell(row["reason"]), row["code"], inert_cell(row["reply"]), inert_cell(row["client"]),
                   inert_cell(row["url"]), row["id"]]
        if len(events) < EXPORT_STEP:
            return
        search = Search(search.domain, search.kind, search.value, (events[-1].recorded_at, events[-1].id))
