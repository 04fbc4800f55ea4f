"""Shared pieces of the dashboard's tables: keyset cursors in the URL and streamed CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence

from quart import Response

#: Rows fetched per step of a CSV export.
EXPORT_STEP = 500
#: First characters a spreadsheet would read as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_line(cells: Sequence[object]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(["" if c is None else c for c in cells])
    return out.getvalue()


def inert_cell(value: object) -> object:
    """A text cell a spreadsheet shows as text, never runs as a formula (``'`` in front)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_response(filename: str, header: Iterable[str], rows: AsyncIterator[Sequence[object]]) -> Response:
    """A CSV download streamed row by row as the rows are read (memory stays flat)."""

    async def body() -> AsyncIterator[bytes]:
        yield csv_line(list(header)).encode()
        async for row in rows:
            yield csv_line(row).encode()

    response = Response(body(), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.timeout = None
    return response


def safe_filename_part(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in text)[:80] or "all"
