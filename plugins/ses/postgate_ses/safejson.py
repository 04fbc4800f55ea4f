"""JSON from untrusted bodies (SNS POSTs, SQS messages): bounded size and depth, strict UTF-8.

Postgate's own limits module is for the Mailgun surface; the SES plugin keeps this small loader
so that a hostile body becomes :class:`UnsafeJson` (a ``ValueError``) and never a
``RecursionError`` or ``UnicodeDecodeError`` deep inside a handler.

Every body is parsed by orjson first (strict JSON: no ``NaN``, UTF-8 only, no lone surrogates),
about twice as fast as the standard library; its depth is then checked only when the text has
more brackets than the limit (a body with fewer cannot nest deeper). Whatever orjson refuses goes
through the standard library's parser and the checks below, which give the reason (or take a
value orjson does not, such as ``1e400``), so the answers are those of :func:`json.loads` with the
same checks, but for one thing: orjson reads an integer beyond 64 bits as a float (no SES or SNS
field is one, and the mapper reads no number).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

#: SNS envelopes and SES records nest a handful of levels; real ones stay under 10.
MAX_DEPTH = 32
#: What a lone surrogate can come from: a ``\\uD800``–``\\uDFFF`` escape, or one in the text itself.
#: Text without either cannot decode to one, so the exact (slower) check runs only when it can.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
RAW_SURROGATE = re.compile("[\ud800-\udfff]")


def may_hold_surrogate(text: str) -> bool:
    """Whether ``text`` can decode to a string with a lone surrogate (cheap scans first)."""
    if "\\u" in text and SURROGATE_ESCAPE.search(text):
        return True
    return not text.isascii() and RAW_SURROGATE.search(text) is not None


class UnsafeJson(ValueError):
    """A body that is not JSON we are willing to hold: not UTF-8, not JSON, too deep or too big."""


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def brackets(data: str | bytes | bytearray) -> int:
    """How many ``{`` and ``[`` the text holds: no container in it can nest deeper."""
    if isinstance(data, str):
        return data.count("{") + data.count("[")
    return data.count(b"{") + data.count(b"[")


def load_json(data: str | bytes | bytearray, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` (bytes must be UTF-8) or raise :class:`UnsafeJson` saying why."""
    if max_bytes is not None and len(data) > max_bytes:
        raise UnsafeJson(f"body larger than {max_bytes} bytes")
    try:
        value = orjson.loads(data)
    except (orjson.JSONDecodeError, TypeError):
        return _load_checked(data, max_depth)
    if brackets(data) > max_depth and depth_exceeds(value, max_depth):
        raise UnsafeJson(f"JSON nested deeper than {max_depth} levels")
    return value


def _load_checked(data: Any, max_depth: int) -> Any:
    """The standard library's parse of what orjson refused, with every check (and its reason)."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafeJson("body is not UTF-8") from None
    if not isinstance(data, str):
        raise UnsafeJson(f"body is a {type(data).__name__}, not text")
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise UnsafeJson(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise UnsafeJson(f"body is not JSON: {exc}") from None
    if depth_exceeds(value, max_depth):
        raise UnsafeJson(f"JSON nested deeper than {max_depth} levels")
    if not may_hold_surrogate(data):
        return value
    try:  # "\\ud800" escapes decode to lone surrogates, which no database or log can take
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeJson("JSON string with a lone surrogate") from None
    return value


def _refuse_constant(name: str) -> Any:
    raise UnsafeJson(f"{name} is not JSON")
