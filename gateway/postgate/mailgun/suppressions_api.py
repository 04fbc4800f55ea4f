"""Mailgun suppression lists: ``/v3/<domain>/{bounces,complaints,unsubscribes,whitelists}`` (§4).

List (query-style paging), get, create (JSON array, single JSON object or form fields), delete
one, clear all and CSV import, with Mailgun's texts and item shapes.

Decisions where Mailgun's behaviour is not documented:

- ``limit`` above 1000 is clamped to 1000; a non-integer or a value below 1 is a 400.
- Paging: ``first`` is ``?limit=N``, ``last`` is ``?page=last&limit=N``. On a page with nothing
  after it, ``next`` and ``last`` are both the URL just past its final item, so "``next`` equals
  ``last``" marks the end and following it yields an empty page (the Python SDK's ``stream()``
  stops there instead of fetching the last page twice). On a page with nothing before it,
  ``previous`` equals ``first``.
- Deleting an address that is not on the list is a 404 with the list's "not found" text.
  ``DELETE …/unsubscribes/<address>?tag=x`` removes that tag only; an entry left without tags is
  removed, and a tag the entry does not carry is a 404.
- Clearing a list other than ``bounces`` answers in the same style as Mailgun's bounces text.
- Whitelists accept a JSON array too (``N addresses have been added to the whitelists table``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

from quart import g, jsonify, request
from werkzeug.datastructures import MultiDict

from ..domain import Suppression, SuppressionChange
from ..errors import BadRequest, NotFound
from ..suppression_records import (
    DEFAULT_BOUNCE_CODE,
    INTEGER,
    check_suppression_csv_size,
    parse_suppression_record,
    suppression_csv_batches,
)
from ..suppression_rules import ALL_TAGS
from ..web import caller_key, current_gateway, request_id
from .parsing import base_url, checked_timestamp, format_date, json_body, parse_date, query_arg, read_fields

T = TypeVar("T")

LISTS = ("bounces", "complaints", "unsubscribes", "whitelists")
LIST_RULE = "any(bounces, complaints, unsubscribes, whitelists)"

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_RECORDS = 1000

NOT_FOUND = {
    "bounces": "Address not found in bounces table",
    "unsubscribes": "Address not found in unsubscribers table",
    "complaints": "No spam complaints found for this address",
    "whitelists": "Address/Domain not found in whitelists table",
}
REMOVED = {
    "bounces": "Bounced address has been removed",
    "unsubscribes": "Unsubscribe event has been removed",
    "complaints": "Spam complaint has been removed",
    "whitelists": "Whitelist address/domain has been removed",
}
CLEARED = {
    "bounces": "Bounced addresses for this domain have been removed",
    "unsubscribes": "Unsubscribe addresses for this domain have been removed",
    "complaints": "Spam complaint addresses for this domain have been removed",
    "whitelists": "Whitelist addresses/domains for this domain have been removed",
}

# -- item shapes ------------------------------------------------------------------------------


def item_json(entry: Suppression) -> dict[str, Any]:
    """The object Mailgun returns for one entry of ``entry.list`` (§4.2)."""
    created = format_date(entry.created_at)
    if entry.list == "bounces":
        code = entry.code if entry.code is not None else DEFAULT_BOUNCE_CODE
        return {"address": entry.address, "code": str(code), "error": entry.error, "created_at": created}
    if entry.list == "unsubscribes":
        return {"address": entry.address, "tags": list(entry.tags) or [ALL_TAGS], "created_at": created}
    if entry.list == "whitelists":
        return {"value": entry.address, "reason": entry.reason, "type": entry.kind, "createdAt": created}
    return {"address": entry.address, "created_at": created}


# -- create records ---------------------------------------------------------------------------


def parse_records(domain: str, list_name: str, records: Iterable[Mapping[str, Any]], now: float,
                  label: str = "record") -> list[Suppression]:
    """Every record or none: the first invalid one is a 400 naming its position."""
    entries: dict[str, Suppression] = {}
    for index, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise BadRequest(f"{label} {index}: expected a JSON object")
        try:
            entry = parse_suppression_record(domain, list_name, record, now)
        except BadRequest as exc:
            raise BadRequest(f"{label} {index}: {exc.message}") from None
        entries.pop(entry.address.lower(), None)
        entries[entry.address.lower()] = entry
    return list(entries.values())


def form_record(fields: MultiDict[str, str]) -> dict[str, Any]:
    """A create record from form fields; ``tag`` may repeat, other fields may not."""
    record: dict[str, Any] = {}
    for name in fields:
        values = fields.getlist(name)
        if name in ("tag", "tags"):
            record[name] = values
        elif len(values) > 1:
            raise BadRequest(f"'{name}' parameter must be given once; send a JSON array to add several")
        else:
            record[name] = values[0]
    return record


# -- paging -----------------------------------------------------------------------------------


def parse_limit() -> int:
    text = query_arg("limit")
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not INTEGER.match(text) or int(text) < 1:
        raise BadRequest(f"'limit' parameter is not a valid positive integer: {text}")
    return min(int(text), MAX_LIMIT)


class Pager:
    """Builds the ``paging`` URLs of one list response (one ``?`` each, absolute)."""

    def __init__(self, root: str, limit: int, term: str | None) -> None:
        self.root = root
        self.limit = limit
        self.term = term

    def url(self, page: str | None = None, address: str | None = None) -> str:
        params: list[tuple[str, str]] = []
        if page:
            params.append(("page", page))
        if address is not None:
            params.append(("address", address))
        params.append(("limit", str(self.limit)))
        if self.term:
            params.append(("term", self.term))
        return f"{self.root}?{urlencode(params)}"


async def list_page(domain: str, list_name: str) -> dict[str, Any]:
    """One page of a list per §4.2, with the paging links described in the module docstring."""
    storage = current_gateway().storage
    limit = parse_limit()
    term = query_arg("term") or None
    page = (query_arg("page") or "first").lower()
    pivot = query_arg("address") or None
    if page not in ("first", "last", "next", "previous"):
        raise BadRequest(f"'page' parameter must be first, last, next or previous: {page}")
    if page in ("next", "previous") and pivot is None:
        page = "first"
    if page in ("first", "last"):
        pivot = None

    async def fetch(count: int, after: str | None, forward: bool) -> list[Suppression]:
        return await storage.list_suppressions(domain, list_name, limit=count, pivot=after,
                                               forward=forward, term=term)

    if page in ("first", "next"):
        rows = await fetch(limit + 1, pivot, True)
        items, has_after = rows[:limit], len(rows) > limit
        anchor = items[0].address if items else pivot
        has_before = anchor is not None and bool(await fetch(1, anchor, False))
    else:
        rows = await fetch(limit + 1, pivot, False)
        items, has_before = rows[-limit:] if rows else [], len(rows) > limit
        has_after = page == "previous" and bool(
            await fetch(1, items[-1].address, True) if items else await fetch(1, None, True))

    pager = Pager(f"{base_url()}/v3/{domain}/{list_name}", limit, term)
    first = pager.url()
    last = pager.url("last")
    if has_after:
        next_url = pager.url("next", items[-1].address) if items else first
    else:
        if items:
            last = pager.url("next", items[-1].address)
        elif pivot is not None:
            last = pager.url("next", pivot)
        next_url = last
    if has_before:
        previous = pager.url("previous", items[0].address if items else pivot)
    else:
        previous = first
    return {
        "items": [item_json(entry) for entry in items],
        "paging": {"first": first, "last": last, "next": next_url, "previous": previous},
    }


# -- views ------------------------------------------------------------------------------------


async def report_changes(action: str, domain: str, list_name: str, addresses: Iterable[str | None],
                         detail: str = "") -> None:
    """Tell ``suppressions_changed`` listeners who changed what (called after the write)."""
    gateway = current_gateway()
    now, key, request = gateway.now(), caller_key(), request_id()
    await gateway.report_suppression_changes([
        SuppressionChange(action, domain, list_name, address, api_key=key, request_id=request,
                          at=now, detail=detail)
        for address in addresses
    ])


def sending_domain(domain: str) -> str:
    """The authenticated sending domain of the path (``/v3/stats/bounces`` names none)."""
    if not getattr(g, "domain", None):
        raise NotFound(f"Domain not found: {domain}")
    return g.domain


async def list_entries(domain: str, list_name: str):
    return jsonify(await list_page(sending_domain(domain), list_name))


async def get_entry(domain: str, list_name: str, address: str):
    entry = await current_gateway().storage.get_suppression(sending_domain(domain), list_name, address)
    if entry is None:
        raise NotFound(NOT_FOUND[list_name])
    return jsonify(item_json(entry))


async def create_entries(domain: str, list_name: str):
    gateway = current_gateway()
    domain = sending_domain(domain)
    now = gateway.now()
    if (request.mimetype or "").lower() == "application/json":
        data = await json_body()
        if isinstance(data, list):
            if not data:
                raise BadRequest("the JSON array holds no records")
            if len(data) > MAX_RECORDS:
                raise BadRequest(f"at most {MAX_RECORDS} records can be added per request, got {len(data)}")
            entries = parse_records(domain, list_name, data, now)
            await gateway.storage.add_suppressions(entries)
            await report_changes("add", domain, list_name, [e.address for e in entries])
            return jsonify({"message": added_text(list_name, len(data))})
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON array of records or a JSON object")
        entry = parse_suppression_record(domain, list_name, data, now)
        await gateway.storage.add_suppressions([entry])
        await report_changes("add", domain, list_name, [entry.address])
        if list_name == "whitelists":
            return jsonify(whitelist_added(entry))
        return jsonify({"message": added_text(list_name, 1)})
    fields, _files = await read_fields()
    entry = parse_suppression_record(domain, list_name, form_record(fields), now)
    await gateway.storage.add_suppressions([entry])
    await report_changes("add", domain, list_name, [entry.address])
    if list_name == "whitelists":
        return jsonify(whitelist_added(entry))
    return jsonify({"message": f"Address has been added to the {list_name} table", "address": entry.address})


def added_text(list_name: str, count: int) -> str:
    if list_name == "complaints":
        return f"{count} complaint addresses have been added to the complaints table"
    return f"{count} addresses have been added to the {list_name} table"


def whitelist_added(entry: Suppression) -> dict[str, str]:
    return {"message": "Address/Domain has been added to the whitelists table", "type": entry.kind,
            "value": entry.address}


async def delete_entry(domain: str, list_name: str, address: str):
    storage = current_gateway().storage
    domain = sending_domain(domain)
    if list_name == "unsubscribes":
        tag = query_arg("tag")
        if tag is None and request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            tag = (await request.form).get("tag") or None
        if tag and tag.strip() != ALL_TAGS:
            await remove_tag(domain, address, tag.strip())
            await report_changes("untag", domain, list_name, [address], detail=tag.strip())
            return jsonify({"message": REMOVED[list_name], "address": address})
    if not await storage.delete_suppression(domain, list_name, address):
        raise NotFound(NOT_FOUND[list_name])
    await report_changes("delete", domain, list_name, [address])
    key = "value" if list_name == "whitelists" else "address"
    return jsonify({"message": REMOVED[list_name], key: address})


async def remove_tag(domain: str, address: str, tag: str) -> None:
    """Take one tag off an unsubscribe entry; the entry goes when no tag is left."""
    storage = current_gateway().storage
    entry = await storage.get_suppression(domain, "unsubscribes", address)
    if entry is None:
        raise NotFound(NOT_FOUND["unsubscribes"])
    remaining = [t for t in entry.tags if t.lower() != tag.lower()]
    if len(remaining) == len(entry.tags):
        raise NotFound(NOT_FOUND["unsubscribes"])
    if remaining:
        entry.tags = remaining
        await storage.add_suppressions([entry])
    else:
        await storage.delete_suppression(domain, "unsubscribes", entry.address)


async def clear_entries(domain: str, list_name: str):
    domain = sending_domain(domain)
    await current_gateway().storage.clear_suppressions(domain, list_name)
    await report_changes("clear", domain, list_name, [None])
    return jsonify({"message": CLEARED[list_name]})


async def import_entries(domain: str, list_name: str):
    """CSV import, off the event loop: the upload is spooled to disk while it arrives; the file is
    read twice in a worker thread, ``suppression_records.IMPORT_BATCH`` rows per step: once to validate every row
    (any bad row is a 400 and nothing is stored), once to store the entries batch by batch. Memory
    stays flat whatever the file's size."""
    gateway = current_gateway()
    domain = sending_domain(domain)
    _fields, files = await read_fields(spool_files=True)
    upload = files.get("file")
    if upload is None:
        raise BadRequest("'file' parameter is missing: upload the CSV as a multipart part named 'file'")
    stream = upload.stream
    try:
        await asyncio.to_thread(check_suppression_csv_size, stream)
        now = gateway.now()
        async for _batch in thread_steps(suppression_csv_batches(stream, domain, list_name, now)):
            pass  # first pass: every row valid, or the 400 of the first bad one and nothing stored
        async for batch in thread_steps(suppression_csv_batches(stream, domain, list_name, now)):
            await gateway.storage.add_suppressions(batch)
            await report_changes("import", domain, list_name, [e.address for e in batch])
    finally:
        await asyncio.to_thread(stream.close)
    return jsonify({"message": "file uploaded successfully"})


async def thread_steps(steps: Iterator[T]) -> AsyncIterator[T]:
    """Run a generator one short step per hop to a worker thread (the loop runs between steps),
    so the blocking reads and the parsing never run on the event loop."""
    while (item := await asyncio.to_thread(next, steps, None)) is not None:
        yield item


def add_routes(bp):
    """Add the suppression routes to the Mailgun blueprint."""
    base = f"/v3/<domain>/<{LIST_RULE}:list_name>"
    bp.add_url_rule(base, "suppressions_list", list_entries, methods=["GET"])
    bp.add_url_rule(base, "suppressions_create", create_entries, methods=["POST"])
    bp.add_url_rule(base, "suppressions_clear", clear_entries, methods=["DELETE"])
    bp.add_url_rule(f"{base}/import", "suppressions_import", import_entries, methods=["POST"])
    bp.add_url_rule(f"{base}/<path:address>", "suppressions_get", get_entry, methods=["GET"])
    bp.add_url_rule(f"{base}/<path:address>", "suppressions_delete", delete_entry, methods=["DELETE"])
