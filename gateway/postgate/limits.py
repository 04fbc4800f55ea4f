"""Bounds on client input that the standard library does not enforce by itself.

:func:`load_json` is the one way Postgate parses JSON that came from a client (form fields,
request bodies, page tokens, provider notifications). It refuses, with a :class:`JsonRefused`
(a ``ValueError``), what would make :func:`json.loads` or later code fail in ways a caller
cannot answer with a 400: text longer than ``max_bytes``; nesting deeper than ``max_depth``
(the decoder's own recursion guard turns ``[[[[…`` into a refusal, and the parsed value is then
measured without recursion, so nothing deeper than ``max_depth`` reaches ``json.dumps`` or other
recursive code); ``NaN``/``Infinity`` and numbers that overflow to infinity; and strings holding
lone UTF-16 surrogates (``"\\ud800"``), which no database can store as UTF-8.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: Largest JSON text parsed by default (a 1000-recipient ``recipient-variables`` is ~0.5 MB).
MAX_JSON_BYTES = 16 * 1024 * 1024
#: Deepest nesting of arrays and objects accepted by default.
MAX_JSON_DEPTH = 32

_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonRefused(ValueError):
    """JSON text refused before or while parsing; ``str()`` says why, for a 400."""


def json_depth(data: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (0 for a scalar), measured
    without recursion."""
    deepest = 0
    pending = [(data, 1)] if isinstance(data, (dict, list)) else []
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        for value in item.values() if isinstance(item, dict) else item:
            if isinstance(value, (dict, list)):
                pending.append((value, depth + 1))
    return deepest


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused(f"number out of range: {text[:40]}")
    return value


def _no_constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not valid JSON")


def _check_strings(data: Any) -> None:
    """Raise if any string or key in ``data`` cannot be encoded as UTF-8 (iterative walk)."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            item.encode("utf-8")
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())


def _may_hold_surrogate(text: str) -> bool:
    """Whether ``text`` has an escaped or a raw UTF-16 surrogate (cheap checks first: a
    half-megabyte ``recipient-variables`` rarely holds ``\\u`` or any non-ASCII character)."""
    if "\\u" in text and _ESCAPED_SURROGATE.search(text):
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def load_json(text: str | bytes, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse client JSON within bounds; raises :class:`JsonRefused` (or ``json.JSONDecodeError``,
    both ``ValueError``) for anything refused or malformed."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > max_bytes:
            raise JsonRefused(f"JSON longer than {max_bytes} bytes")
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise JsonRefused("JSON must be UTF-8 encoded") from None
    elif not isinstance(text, str):
        raise JsonRefused("JSON must be text")
    elif len(text) > max_bytes:  # a character is at least one byte: a cheap lower bound first
        raise JsonRefused(f"JSON longer than {max_bytes} bytes")
    elif len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise JsonRefused(f"JSON longer than {max_bytes} bytes")
    try:
        data = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:  # the decoder bounds its own recursion; deeper than any max_depth
        raise JsonRefused(f"JSON nested deeper than {max_depth} levels") from None
    if json_depth(data) > max_depth:
        raise JsonRefused(f"JSON nested deeper than {max_depth} levels")
    if _may_hold_surrogate(text):
        try:
            _check_strings(data)
        except UnicodeEncodeError:
            raise JsonRefused("JSON holds an unpaired UTF-16 surrogate") from None
    return data
