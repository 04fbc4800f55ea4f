"""Suppression lists in the dashboard: list with a prefix filter and keyset pages, add, lift, CSV
import and export, through the storage's public suppression methods. Every change is reported
through the ``suppressions_changed`` hook like the API's, with the dashboard user as the actor."""

from __future__ import annotations

import asyncio
import csv
import email.utils
import io
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from postgate import Suppression, SuppressionChange

from .table_export import EXPORT_STEP

LISTS = ("bounces", "unsubscribes", "complaints", "whitelists")
PAGE_SIZE = 50
#: The API's bounds, kept the same so an entry added here reads back through the API.
MAX_ADDRESS = 320
MAX_TEXT = 4096
MAX_TAG = 128
MAX_TAGS = 100
MAX_CSV_BYTES = 25 * 1024 * 1024
IMPORT_BATCH = 200
DEFAULT_BOUNCE_CODE = 550
ALL_TAGS = "*"
#: The audit trail's ``api_key`` column holds 32 characters.
MAX_ACTOR = 32
ADDRESS = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")
DOMAIN = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*$")
CODE = re.compile(r"^\d{1,9}$")
CSV_HEADER = {
    "bounces": ("address", "code", "error", "created_at"),
    "unsubscribes": ("address", "tags", "created_at"),
    "complaints": ("address", "created_at"),
    "whitelists": ("address", "domain", "reason", "created_at"),
}
AUDIT_PLUGIN = "postgate_suppression_audit"
#: Newest audit rows shown; ``postgate suppressions audit`` reads the whole trail.
AUDIT_ROWS = 20


class EntryError(ValueError):
    """An entry cannot be stored as given; the text says why."""


def parse_entry(domain: str, list_name: str, fields: Mapping[str, str], now: float, *,
                address_may_be_domain: bool = False) -> Suppression:
    """One entry from form fields or a CSV row (``address``; bounces ``code``/``error``;
    unsubscribes ``tags`` comma-separated; whitelists ``address`` or ``domain`` and ``reason``;
    with ``address_may_be_domain``, a whitelist ``address`` without ``@`` is a domain)."""
    if list_name not in LISTS:
        raise EntryError("choose bounces, unsubscribes, complaints or whitelists")
    text = {name: (value or "").strip() for name, value in fields.items()}
    for name, value in text.items():
        if len(value) > MAX_TEXT:
            raise EntryError(f"'{name}' is longer than {MAX_TEXT} characters")
    now = created_at(text.get("created_at", ""), now)
    address = text.get("address", "")
    if list_name == "whitelists":
        value_domain = text.get("domain", "")
        if address and value_domain:
            raise EntryError("give either an address or a domain, not both")
        if value_domain or (address_may_be_domain and address and "@" not in address):
            value_domain = value_domain or address
            if not DOMAIN.match(value_domain):
                raise EntryError(f"not a valid domain name: {value_domain}")
            return Suppression(domain, list_name, value_domain, kind="domain", reason=text.get("reason", ""),
                               created_at=now)
        return Suppression(domain, list_name, checked_address(address), kind="address",
                           reason=text.get("reason", ""), created_at=now)
    address = checked_address(address)
    if list_name == "bounces":
        code = text.get("code", "")
        if code and not CODE.match(code):
            raise EntryError(f"the code must be a whole number: {code}")
        return Suppression(domain, list_name, address, code=int(code) if code else DEFAULT_BOUNCE_CODE,
                           error=text.get("error", ""), created_at=now)
    if list_name == "unsubscribes":
        return Suppression(domain, list_name, address, tags=parse_tags(text.get("tags", "")), created_at=now)
    return Suppression(domain, list_name, address, created_at=now)


def created_at(value: str, now: float) -> float:
    """``created_at`` as the export writes it (RFC 2822) or epoch seconds; ``now`` when empty."""
    if not value:
        return now
    try:
        seconds = float(value) if re.match(r"^\d{1,11}(\.\d+)?$", value) else \
            email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, OverflowError):
        raise EntryError(f"created_at is not a valid RFC 2822 date: {value[:64]}") from None
    if not 0 <= seconds < 253402300800:
        raise EntryError(f"created_at is out of range: {value[:64]}")
    return seconds


def checked_address(value: str) -> str:
    if not value:
        raise EntryError("an address is needed")
    if len(value) > MAX_ADDRESS or not ADDRESS.match(value):
        raise EntryError(f"not a valid email address: {value}")
    return value


def parse_tags(text: str) -> list[str]:
    tags: list[str] = []
    for raw in text.split(","):
        tag = raw.strip()
        if len(tag) > MAX_TAG:
            raise EntryError(f"a tag is at most {MAX_TAG} characters")
        if tag and tag.lower() not in {t.lower() for t in tags}:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise EntryError(f"at most {MAX_TAGS} tags")
    return [ALL_TAGS] if not tags or ALL_TAGS in tags else tags


def csv_entries(stream: IO[bytes], domain: str, list_name: str, now: float) -> list[Suppression]:
    """Every entry of an import file, or :class:`EntryError` naming the first bad line (nothing is
    stored then). Columns as the API's import: a header row naming ``address`` (whitelists:
    ``address`` or ``domain``). Runs in a worker thread."""
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text, skipinitialspace=True)
        columns = [name.strip().lower() for name in next(reader, None) or []]
        if "address" not in columns and not (list_name == "whitelists" and "domain" in columns):
            raise EntryError("the CSV file needs a header row with an 'address' column")
        entries: dict[str, Suppression] = {}
        for row in reader:
            cells = {name: cell for name, cell in zip(columns, row) if name and cell.strip()}
            if not cells:
                continue
            for record in row_records(list_name, cells):
                try:
                    entry = parse_entry(domain, list_name, record, now)
                except EntryError as exc:
                    raise EntryError(f"CSV line {reader.line_num}: {exc}") from None
                entries.pop(entry.address.lower(), None)
                entries[entry.address.lower()] = entry
        return list(entries.values())
    except UnicodeDecodeError:
        raise EntryError("the CSV file must be UTF-8 encoded") from None
    except csv.Error:
        raise EntryError(f"CSV line {reader.line_num}: not valid CSV") from None
    finally:
        text.detach()


def row_records(list_name: str, cells: dict[str, str]) -> list[dict[str, str]]:
    """The entries one CSV row stands for: ``tag`` and ``tags`` cells together; a whitelist row
    naming an address and a domain stands for both."""
    if list_name == "unsubscribes":
        cells["tags"] = ",".join(cells.pop(name, "") for name in ("tags", "tag"))
    if list_name == "whitelists" and cells.get("address", "").strip() and cells.get("domain", "").strip():
        created = cells.get("created_at", "")
        return [{"address": cells["address"], "created_at": created, "reason": cells.get("reason", "")},
                {"domain": cells["domain"], "created_at": created, "reason": cells.get("reason", "")}]
    return [cells]


def stream_size(stream: IO[bytes]) -> int:
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    return size


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
    """Validate the whole file off the event loop, then store it in batches; the count stored."""
    if await asyncio.to_thread(stream_size, stream) > MAX_CSV_BYTES:
        raise EntryError("the CSV file must be 25MB or under")
    entries = await asyncio.to_thread(csv_entries, stream, domain, list_name, gateway.now())
    for start in range(0, len(entries), IMPORT_BATCH):
        batch = entries[start:start + IMPORT_BATCH]
        await gateway.storage.add_suppressions(batch)
        await report(gateway, actor, "import", domain, list_name, [e.address for e in batch])
    return len(entries)


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
