"""Who opened or clicked one send, and its failures, complaints and unsubscribes: its events of
that type newest first, each with the recipient, the client and, for clicks, the URL, for failures
the severity, reason, codes and the provider's reply; under ``who=human`` the opens and clicks a
machine made are left out. Read through ``gateway.storage.page_events`` with the events API's own filter terms (the
send's ``email-id``, else its ``message-id``, and the event type);
keyset pages and a streamed CSV. The read stays within the send's first and latest event as the
roll-ups know them (``dashboard_sends``), so a new event shows once the roll-ups have counted it
(about a second)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from postgate import And, Event, Term

from ..rollups import queries
from ..rollups.derive import is_machine
from .event_reads import matching_events
from .table_export import EXPORT_STEP, inert_cell
from .timeline_view import event_row

PAGE_SIZE = 50
#: The event types listed, and each list's title. ``who`` applies to opens and clicks only.
KINDS = ("opened", "clicked", "failed", "complained", "unsubscribed")
TITLES = {"opened": "Who opened", "clicked": "Who clicked", "failed": "Failures", "complained": "Complaints",
          "unsubscribed": "Unsubscribes"}
CSV_HEADER = ("time_utc", "recipient", "event", "machine", "client", "user_agent", "url", "severity", "reason",
              "code", "enhanced_code", "provider_reply", "message_id", "event_id")


class EngagedError(ValueError):
    """The query string names no list that can be shown; the text says why."""


@dataclass(frozen=True, slots=True)
class Engaged:
    """The open or click events of one send (``who``: ``human`` leaves out a machine's)."""

    domain: str
    key: str
    email_id: str | None
    first_at: int
    #: Epoch second of the send's latest event the roll-ups counted: nothing of it is newer.
    last_at: int
    kind: str
    who: str
    subject: str = ""

    def storage_filter(self) -> And:
        send = Term("email-id", self.email_id) if self.email_id else Term("message-id", self.key)
        return And((send, Term("event", self.kind)))

    def keep(self, event: Event) -> bool:
        return self.who == "all" or self.kind not in ("opened", "clicked") or not is_machine(event)

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    def args(self) -> dict[str, str]:
        return {"domain": self.domain, "key": self.key, "event": self.kind, "who": self.who}


async def parse_engaged(gateway: Any, domain: str, key: str, args: Mapping[str, str], who: str) -> Engaged | None:
    """The list the query string names; ``None`` when the send does not exist."""
    kind = args.get("event") or "opened"
    if kind not in KINDS:
        raise EngagedError("choose opened, clicked, failed, complained or unsubscribed")
    row = await queries.send_summary(gateway, domain, key)
    if row is None:
        return None
    return Engaged(domain, key, row.email_id, row.first_at, row.last_at, kind, who, row.subject)


async def _read(gateway: Any, engaged: Engaged, after: tuple[int, int] | None,
                want: int) -> tuple[list[Event], tuple[int, int] | None]:
    # From the end of the second of the send's latest event back to the second of its first (the
    # end is exclusive): the domain's newer events are never read, however many there are.
    return await matching_events(gateway, engaged.domain, (engaged.last_at + 1) * 1_000_000 - 1,
                                 engaged.first_at * 1_000_000 - 1,
                                 engaged.storage_filter(), engaged.keep, after, want)


def engaged_row(event: Event) -> dict[str, Any]:
    row = event_row(event)
    info = event.payload.get("client-info")
    row["machine"] = str(info.get("bot") or "") if isinstance(info, dict) else ""
    return row


async def engaged_page(gateway: Any, engaged: Engaged, after: tuple[int, int] | None) -> dict[str, Any]:
    events, cursor = await _read(gateway, engaged, after, PAGE_SIZE)
    return {"rows": [engaged_row(e) for e in events], "next_after": f"{cursor[0]}-{cursor[1]}" if cursor else None}


async def engaged_csv_rows(gateway: Any, engaged: Engaged) -> AsyncIterator[list[object]]:
    """Every row of the list, read :data:`EXPORT_STEP` at a time while written."""
    after: tuple[int, int] | None = None
    while True:
        events, after = await _read(gateway, engaged, after, EXPORT_STEP)
        for event in events:
            row = engaged_row(event)
            yield [row["time"], inert_cell(row["recipient"]), row["event"], row["machine"], inert_cell(row["client"]),
                   inert_cell(row["user_agent"]), inert_cell(row["url"]), row["severity"], inert_cell(row["reason"]),
                   row["code"], row["enhanced"], inert_cell(row["reply"]), row["message_id"], row["id"]]
        if after is None:
            return
