"""The bounce explorer: a period's failures grouped by type, SMTP status code and mailbox provider
(from the ``dashboard_failures`` roll-ups), and down to the recipients of one group, read newest
first through ``gateway.storage.page_events`` with the events API's own filter terms."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from postgate import And, Event, Not, Term

from ..rollups import queries
from ..rollups.derive import FAILURE_KINDS, failure_kind, failure_status, recipient_domain
from ..rollups.providers import LABELS, provider_of
from .event_reads import matching_events
from .table_export import EXPORT_STEP, inert_cell
from .timeline_view import when

PAGE_SIZE = 50
KIND_LABELS = {"hard": "Hard bounce", "soft": "Soft bounce / deferred", "suppressed": "Suppression drop",
               "complaint": "Complaint"}
KIND_NOTES = {
    "hard": "permanent failures the provider reported: the address is added to bounces",
    "soft": "temporary failures (deferred, retried): nothing is suppressed",
    "suppressed": "not sent because the address was on a suppression list",
    "complaint": "the recipient marked the message as spam: the address is added to complaints",
}
CODE = re.compile(r"^\d{0,8}$")
ENHANCED = re.compile(r"^[0-9.]{0,16}$")
CSV_HEADER = ("time_utc", "recipient", "type", "code", "enhanced_code", "provider", "reason",
              "provider_reply", "message_id", "send", "event_id")


class DrillError(ValueError):
    """The group in the query string cannot be shown; the text says why."""


@dataclass(frozen=True, slots=True)
class Group:
    """A failure group: a type and, where given, a code, enhanced code and provider ('*' = any)."""

    kind: str
    code: str = "*"
    enhanced: str = "*"
    provider: str = "*"

    def matches(self, event: Event) -> bool:
        payload = event.payload
        severity = event.severity or payload.get("severity")
        if failure_kind(event.event, severity, payload.get("reason")) != self.kind:
            return False
        code, enhanced = failure_status(payload)
        if self.code != "*" and code != self.code or self.enhanced != "*" and enhanced != self.enhanced:
            return False
        return self.provider == "*" or provider_of(recipient_domain(event)) == self.provider

    def storage_filter(self) -> Term | And:
        """What the storage can select by index: the event type and, for failures, the severity."""
        if self.kind == "complaint":
            return Term("event", "complained")
        permanent = Term("severity", "permanent")  # no severity is temporary, as in the core stats
        return And((Term("event", "failed"), Not(permanent) if self.kind == "soft" else permanent))

    def args(self) -> dict[str, str]:
        return {name: value for name, value in (("kind", self.kind), ("code", self.code),
                                                ("enhanced", self.enhanced), ("provider", self.provider))
                if value != "*"}


def parse_group(args: Mapping[str, str]) -> Group:
    kind = args.get("kind") or ""
    if kind not in FAILURE_KINDS:
        raise DrillError("choose a failure type: hard, soft, suppressed or complaint")
    code, enhanced, provider = (args.get(name, "*") for name in ("code", "enhanced", "provider"))
    if code != "*" and not CODE.match(code):
        raise DrillError("the code must be a number")
    if enhanced != "*" and not ENHANCED.match(enhanced):
        raise DrillError("the enhanced code looks like 5.1.1")
    if provider != "*" and provider not in LABELS:
        raise DrillError("choose one of the mailbox providers")
    return Group(kind, code, enhanced, provider)


def grouped(groups: list[queries.FailureGroup]) -> dict[str, Any]:
    """The explorer's tables: totals by type, by code and by provider, and every group."""
    by_kind: dict[str, int] = defaultdict(int)
    by_code: dict[tuple[str, str, str], int] = defaultdict(int)
    by_provider: dict[tuple[str, str], int] = defaultdict(int)
    for g in groups:
        by_kind[g.kind] += g.n
        by_code[(g.kind, g.code, g.enhanced)] += g.n
        by_provider[(g.kind, g.provider)] += g.n
    total = sum(by_kind.values())
    return {
        "total": total,
        "kinds": [{"kind": k, "label": KIND_LABELS[k], "note": KIND_NOTES[k], "n": by_kind.get(k, 0),
                   "share": f"{100 * by_kind[k] / total:.1f}%" if total and by_kind.get(k) else "\u2014",
                   "group": Group(k).args()} for k in FAILURE_KINDS],
        "codes": [{"kind": k, "label": KIND_LABELS[k], "code": c, "enhanced": e, "n": n,
                   "group": Group(k, c, e).args()}
                  for (k, c, e), n in sorted(by_code.items(), key=lambda item: (-item[1], item[0]))],
        "providers": [{"kind": k, "label": KIND_LABELS[k], "provider": p, "provider_label": LABELS.get(p, p),
                       "n": n, "group": Group(k, provider=p).args()}
                      for (k, p), n in sorted(by_provider.items(), key=lambda item: (-item[1], item[0]))],
        "groups": [{"kind": g.kind, "label": KIND_LABELS[g.kind], "code": g.code, "enhanced": g.enhanced,
                    "provider": g.provider, "provider_label": LABELS.get(g.provider, g.provider), "n": g.n,
                    "group": Group(g.kind, g.code, g.enhanced, g.provider).args()} for g in groups],
    }


async def explorer_page(gateway: Any, domain: str, start: int, end: int) -> dict[str, Any]:
    return grouped(await queries.failure_groups(gateway, domain, start, end))


def recipient_row(event: Event) -> dict[str, Any]:
    body = event.to_mailgun()
    status = body.get("delivery-status") if isinstance(body.get("delivery-status"), dict) else {}
    code, enhanced = failure_status(body)
    reply = " ".join(str(status[k]) for k in ("message", "description") if status.get(k))
    variables = body.get("user-variables") if isinstance(body.get("user-variables"), dict) else {}
    return {
        "id": body.get("id") or "",
        "time": when(body["timestamp"]),
        "recipient": event.recipient or "",
        "reason": str(body.get("reason") or ""),
        "code": code,
        "enhanced": enhanced,
        "reply": reply,
        "provider": provider_of(recipient_domain(event)),
        "message_id": event.message_id or "",
        "send": str(event.email_id or variables.get("email-id") or ""),
    }


async def _matching(gateway: Any, domain: str, group: Group, start: int, end: int,
                    after: tuple[int, int] | None, want: int) -> tuple[list[Event], tuple[int, int] | None]:
    """Up to ``want`` events of ``group`` in the period, newest first, from after ``after``."""
    return await matching_events(gateway, domain, end * 1_000_000 - 1, start * 1_000_000 - 1,
                                 group.storage_filter(), group.matches, after, want)


async def recipients_page(gateway: Any, domain: str, group: Group, start: int, end: int,
                          after: tuple[int, int] | None) -> dict[str, Any]:
    """One page of the group's recipients (newest failure first) and the next page's cursor."""
    events, cursor = await _matching(gateway, domain, group, start, end, after, PAGE_SIZE)
    rows = [recipient_row(e) for e in events]
    listed = target_list(group)
    entries = await gateway.storage.find_suppressions(domain, sorted({r["recipient"] for r in rows if r["recipient"]}))
    suppressed = {e.address.lower() for e in entries if e.list == listed}
    for row in rows:
        row["suppressed"] = row["recipient"].lower() in suppressed
    return {"rows": rows, "next_after": f"{cursor[0]}-{cursor[1]}" if cursor else None}


def target_list(group: Group) -> str:
    """The suppression list an inline change of this group's recipients goes to."""
    return "complaints" if group.kind == "complaint" else "bounces"


async def recipients_csv_rows(gateway: Any, domain: str, group: Group, start: int,
                              end: int) -> AsyncIterator[list[object]]:
    """Every recipient row of the group, read :data:`EXPORT_STEP` at a time."""
    after: tuple[int, int] | None = None
    while True:
        events, after = await _matching(gateway, domain, group, start, end, after, EXPORT_STEP)
        for event in events:
            row = recipient_row(event)
            yield [row["time"], inert_cell(row["recipient"]), group.kind, row["code"], row["enhanced"],
                   row["provider"], inert_cell(row["reason"]), inert_cell(row["reply"]), row["message_id"],
                   inert_cell(row["send"]), row["id"]]
        if after is None:
            return


