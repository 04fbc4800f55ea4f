"""Suppression lists in the dashboard: list with a prefix filter and keyset pages, add, lift, CSV
import and export, through the storage's public suppression methods. Every change is reported
through the ``suppressions_changed`` hook like the API's, with the dashboard user as the actor."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from postgate import (
    InvalidSuppressionRecord,
    Suppression,
    SuppressionChange,
    check_suppression_csv_size,
    checked_suppression_address,
    parse_suppression_record,
    suppression_csv_batches,
)

from .table_export import EXPORT_STEP

LISTS = ("bounces", "unsubscribes", "complaints", "whitelists")
PAGE_SIZE = 50
#: The API's bounds (postgate.suppression_records), for the forms' own checks.
MAX_ADDRESS = 320
MAX_TEXT = 4096
DEFAULT_BOUNCE_CODE = 550
ALL_TAGS = "*"
#: The audit trail's ``api_key`` column holds 32 characters.
MAX_ACTOR = 32
CSV_HEADER = {
    "bounces": ("address", "code", "error", "created_at"),
    "unsubscribes": ("address", "tags", "created_at"),
    "complaints": ("address", "created_at"),
    "whitelists": ("address", "domain", "reason", "created_at"),
}
AUDIT_PLUGIN = "postgate_suppression_audit"
#: Newest audit rows shown; ``postgate suppressions audit`` reads the whole trail.
AUDIT_ROWS = 20

#: The core's record error: its ``message`` (and ``str()``) says why an entry cannot be stored.
EntryError = InvalidSuppressionRecord


def parse_entry(domain: str, list_name: str, fields: Mapping[str, str], now: float, *,
                address_may_be_domain: bool = False) -> Suppression:
    """One entry from form fields, by the API's record rules (unsubscribes ``tags`` are
    comma-separated here; with ``address_may_be_domain``, a whitelist ``address`` without ``@``
    is a domain)."""
    if list_name not in LISTS:
        raise EntryError("choose bounces, unsubscribes, complaints or whitelists")
    record: dict[str, Any] = dict(fields)
    if list_name == "unsubscribes":
        record["tags"] = (record.get("tags") or "").split(",")
    address = (record.get("address") or "").strip()
    if list_name == "whitelists" and address_may_be_domain and address and "@" not in address \
            and not (record.get("domain") or "").strip():
        record["domain"], record["address"] = address, ""
    return parse_suppression_record(domain, list_name, record, now)


def checked_address(value: str) -> str:
    return checked_suppression_address(value)


def actor_label(email: str) -> str:
    """The dashboard user as the audit trail's actor (its ``api_key`` column: 32 characters)."""
    return email if len(email) <= MAX_ACTOR else email[: MAX_ACTOR - 1] + "…"


async def report(gateway: Any, actor: str, action: str, domain: str, list_name: str,
                 addresses: list[str], detail: str = "") -> None:
    """Tell ``suppressions_changed`` listeners (the audit trail) what the dashboard changed."""
    now, request_id = gateway.now(), f"dashboard-{uuid.uuid4().hex}"
    await gateway.report_suppression_changes([
        SuppressionChange(action, domain, list_name, address, api_key=actor_label(actor),
                          request_id=request_id, at=now, detail=detail)
        for address in addresses
    ])


async def add_entry(gateway: Any, actor: str, entry: Suppression) -> None:
    await gateway.storage.add_suppressions([entry])
    await report(gateway, actor, "add", entry.domain, entry.list, [entry.address])


async def lift_entry(gateway: Any, actor: str, domain: str, list_name: str, address: str) -> bool:
    if not await gateway.storage.delete_suppression(domain, list_name, address):
        return False
    await report(gateway, actor, "delete", domain, list_name, [address])
    return True


async def import_file(gateway: Any, actor: str, domain: str, list_name: str, stream: IO[bytes]) -> int:
    """Validate the whole file off the event loop (nothing is stored if a row is bad), then store
    it batch by batch; the count of entries stored."""
    await asyncio.to_thread(check_suppression_csv_size, stream)
    now = gateway.now()
    await asyncio.to_thread(lambda: sum(1 for _ in suppression_csv_batches(stream, domain, list_name, now)))
    batches = suppression_csv_batches(stream, domain, list_name, now)
    count = 0
    while (batch := await asyncio.to_thread(next, batches, None)) is not None:
        await gateway.storage.add_suppressions(batch)
        await report(gateway, actor, "import", domain, list_name, [e.address for e in batch])
        count += len(batch)
    return count


def entry_row(entry: Suppression) -> dict[str, Any]:
    return {
        "address": entry.address,
        "created": datetime.fromtimestamp(entry.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "code": entry.code if entry.code is not None else "",
        "error": entry.error,
        "tags": list(entry.tags),
        "kind": entry.kind,
        "reason": entry.reason,
    }


async def list_page(gateway: Any, domain: str, list_name: str, prefix: str | None,
                    after: str | None) -> dict[str, Any]:
    """One page of entries in address order after ``after``; the next page's cursor if any."""
    entries = await gateway.storage.list_suppressions(domain, list_name, limit=PAGE_SIZE + 1, pivot=after,
                                                      forward=True, term=prefix or None)
    shown = entries[:PAGE_SIZE]
    more = len(entries) > PAGE_SIZE
    return {"rows": [entry_row(e) for e in shown], "next_after": shown[-1].address if more else None}


async def csv_rows(gateway: Any, domain: str, list_name: str, prefix: str | None) -> AsyncIterator[list[object]]:
    """Every entry, in the API's import columns (an export can be imported again as it is)."""
    after: str | None = None
    while True:
        entries = await gateway.storage.list_suppressions(domain, list_name, limit=EXPORT_STEP, pivot=after,
                                                          forward=True, term=prefix or None)
        for entry in entries:
            yield export_cells(entry)
        if len(entries) < EXPORT_STEP:
            return
        after = entries[-1].address


def export_cells(entry: Suppression) -> list[object]:
    created = datetime.fromtimestamp(entry.created_at, UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")
    if entry.list == "bounces":
        return [entry.address, entry.code if entry.code is not None else DEFAULT_BOUNCE_CODE, entry.error, created]
    if entry.list == "unsubscribes":
        return [entry.address, ",".join(entry.tags) or ALL_TAGS, created]
    if entry.list == "whitelists":
        return [entry.address if entry.kind == "address" else "", entry.address if entry.kind == "domain" else "",
                entry.reason, created]
    return [entry.address, created]


def audit_loaded(gateway: Any) -> bool:
    """Whether the ``suppression_audit`` plugin listens to ``suppressions_changed``."""
    return any(getattr(impl.plugin, "__name__", "") == AUDIT_PLUGIN
               for impl in gateway.pm.hook.suppressions_changed.get_hookimpls())


async def audit_rows(gateway: Any, domain: str, limit: int = AUDIT_ROWS) -> list[dict[str, Any]] | None:
    """The newest audit rows of ``domain`` when the audit plugin is loaded, else ``None``."""
    if not audit_loaded(gateway):
        return None
    from postgate_suppression_audit.trail import entries

    rows = await entries(gateway, domain=domain, limit=limit)
    for row in rows:
        row["when"] = datetime.fromtimestamp(row["at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    return rows
