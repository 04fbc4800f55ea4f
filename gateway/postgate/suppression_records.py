"""Suppression records and CSV import files, parsed into :class:`Suppression` entries.

The rules the Mailgun API's create and import endpoints apply (§4), with no request objects, so a
plugin (the dashboard) stores exactly what the API would. Errors are
:class:`InvalidSuppressionRecord` (a :class:`BadRequest`: Mailgun's 400 when it reaches the API).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from typing import IO, Any

from .domain import Suppression
from .errors import BadRequest
from .mailgun.parsing import checked_timestamp, parse_date
from .suppression_rules import ALL_TAGS

MAX_CSV_BYTES = 25 * 1024 * 1024
#: Longest physical line of an import file read at once (a cell may span lines when quoted).
MAX_CSV_LINE = 256 * 1024
#: Entries validated and stored per step of an import: one INSERT batch, one hop to a thread.
IMPORT_BATCH = 200
#: Storage bounds: the address column holds 320 characters; texts and tags are kept short.
MAX_ADDRESS = 320
MAX_TEXT = 4096
MAX_TAGS = 100
MAX_TAG = 128
DEFAULT_BOUNCE_CODE = 550

ADDRESS = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")
DOMAIN = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*$")
INTEGER = re.compile(r"^\s*\d{1,9}\s*$")


class InvalidSuppressionRecord(BadRequest):
    """A record or import file that cannot be stored; ``message`` says why (and where)."""


def text_value(record: Mapping[str, Any], name: str) -> str | None:
    """A string field of a record; numbers are accepted as their decimal text."""
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidSuppressionRecord(f"'{name}' parameter must be a string")
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise InvalidSuppressionRecord(f"'{name}' parameter is longer than {MAX_TEXT} characters")
    return text


def checked_suppression_address(value: str | None, name: str = "address") -> str:
    """``value`` if it is an address a suppression list can hold."""
    if not value:
        raise InvalidSuppressionRecord(f"'{name}' parameter is missing")
    if len(value) > MAX_ADDRESS or not ADDRESS.match(value):
        raise InvalidSuppressionRecord(f"'{name}' parameter is not a valid email address: {value}")
    return value


def parse_created_at(record: Mapping[str, Any], now: float) -> float:
    """``created_at`` as epoch seconds: a number or an RFC 2822 date, from the epoch to year 9999
    (a date the list endpoint could not show again is refused, never stored)."""
    value = record.get("created_at")
    if value is None or value == "":
        return now
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return checked_timestamp(float(value))
        return parse_date(str(value))
    except (ValueError, OverflowError):
        shown = str(value)[:64] if isinstance(value, str) else "a number out of range"
        raise InvalidSuppressionRecord(f"'created_at' parameter is not a valid RFC 2822 date: {shown}") from None


def parse_tags(record: Mapping[str, Any]) -> list[str]:
    """``tags`` (list or string) and ``tag``; ``["*"]`` when none or when ``*`` is among them."""
    raw: list[Any] = []
    for name in ("tags", "tag"):
        value = record.get(name)
        if value is None or value == "":
            continue
        raw.extend(value if isinstance(value, list) else [value])
    tags: list[str] = []
    for value in raw:
        if not isinstance(value, str):
            raise InvalidSuppressionRecord("'tags' parameter must be a list of strings")
        tag = value.strip()
        if len(tag) > MAX_TAG:
            raise InvalidSuppressionRecord(f"'tags' parameter: a tag is at most {MAX_TAG} characters")
        if tag and tag.lower() not in {t.lower() for t in tags}:
            tags.append(tag)
        if len(tags) > MAX_TAGS:
            raise InvalidSuppressionRecord(f"'tags' parameter: at most {MAX_TAGS} tags")
    if not tags or ALL_TAGS in tags:
        return [ALL_TAGS]
    return tags


def parse_suppression_record(domain: str, list_name: str, record: Mapping[str, Any], now: float) -> Suppression:
    """One entry of ``list_name`` (bounces, complaints, unsubscribes, whitelists) from a create
    record as the API takes it; ``now`` when it names no ``created_at``."""
    created = parse_created_at(record, now)
    if list_name == "whitelists":
        address = text_value(record, "address")
        value_domain = text_value(record, "domain")
        reason = text_value(record, "reason") or ""
        if address and value_domain:
            raise InvalidSuppressionRecord("pass either 'address' or 'domain', not both")
        if value_domain:
            if not DOMAIN.match(value_domain):
                raise InvalidSuppressionRecord(f"'domain' parameter is not a valid domain name: {value_domain}")
            return Suppression(domain, list_name, value_domain, kind="domain", reason=reason, created_at=created)
        if not address:
            raise InvalidSuppressionRecord("'address' or 'domain' parameter is missing")
        return Suppression(domain, list_name, checked_suppression_address(address), kind="address",
                           reason=reason, created_at=created)
    address = checked_suppression_address(text_value(record, "address"))
    if list_name == "bounces":
        code_text = text_value(record, "code")
        if code_text and not INTEGER.match(code_text):
            raise InvalidSuppressionRecord(f"'code' parameter is not a valid integer: {code_text}")
        code = int(code_text) if code_text else DEFAULT_BOUNCE_CODE
        return Suppression(domain, list_name, address, code=code, error=text_value(record, "error") or "",
                           created_at=created)
    if list_name == "unsubscribes":
        return Suppression(domain, list_name, address, tags=parse_tags(record), created_at=created)
    return Suppression(domain, list_name, address, created_at=created)


def check_suppression_csv_size(stream: IO[bytes]) -> None:
    """Refuse an import file over :data:`MAX_CSV_BYTES` (blocking: call it in a worker thread)."""
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    if size > MAX_CSV_BYTES:
        raise InvalidSuppressionRecord("the CSV file must be 25MB or under")


def suppression_csv_batches(stream: IO[bytes], domain: str, list_name: str,
                            now: float) -> Iterator[list[Suppression]]:
    """The entries of an import file (columns per §4.5) in file order, :data:`IMPORT_BATCH` at a
    time, read incrementally from ``stream``'s start; a later duplicate overwrites an earlier one
    when stored. Blocking: step it in a worker thread. The first bad row raises (name its line)."""
    batch: list[Suppression] = []
    for entry in csv_entries(stream, domain, list_name, now):
        batch.append(entry)
        if len(batch) >= IMPORT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def csv_lines(text: IO[str]) -> Iterator[str]:
    """Physical lines of at most :data:`MAX_CSV_LINE` characters (a longer one is refused)."""
    while line := text.readline(MAX_CSV_LINE + 1):
        if len(line) > MAX_CSV_LINE:
            raise InvalidSuppressionRecord(f"the CSV file has a line longer than {MAX_CSV_LINE} characters")
        yield line


def csv_entries(stream: IO[bytes], domain: str, list_name: str, now: float) -> Iterator[Suppression]:
    """Entries of an import file, read incrementally from ``stream``'s start."""
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(csv_lines(text), skipinitialspace=True)
        try:
            columns = [name.strip().lower() for name in next(reader, None) or []]
            required = ("address", "domain") if list_name == "whitelists" else ("address",)
            if not any(name in columns for name in required):
                names = " or ".join(repr(name) for name in required)
                raise InvalidSuppressionRecord(f"the CSV file needs a header row with an {names} column")
            for row in reader:
                cells = {name: cell.strip() for name, cell in zip(columns, row) if name and cell.strip()}
                if not cells:
                    continue
                for record in csv_records(list_name, cells):
                    try:
                        yield parse_suppression_record(domain, list_name, record, now)
                    except BadRequest as exc:
                        raise InvalidSuppressionRecord(f"CSV line {reader.line_num}: {exc.message}") from None
        except UnicodeDecodeError:
            raise InvalidSuppressionRecord("the CSV file must be UTF-8 encoded") from None
        except csv.Error as exc:
            raise InvalidSuppressionRecord(f"CSV line {reader.line_num}: {csv_error_text(exc)}") from None
    finally:
        text.detach()  # leave the stream open: the caller may read it again, and closes it


def csv_error_text(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a cell is longer than {csv.field_size_limit()} characters"
    return "not valid CSV"


def csv_records(list_name: str, cells: dict[str, str]) -> list[dict[str, Any]]:
    """The create records one CSV row stands for (a whitelist row may name an address and a domain)."""
    if list_name == "unsubscribes":
        tags = ",".join(cells.pop(name, "") for name in ("tags", "tag")).split(",")
        cells["tags"] = [tag.strip() for tag in tags if tag.strip()]
    if list_name == "whitelists" and cells.get("address") and cells.get("domain"):
        created = cells.get("created_at")
        return [{"address": cells["address"], "created_at": created},
                {"domain": cells["domain"], "created_at": created}]
    return [cells]
