"""Request decoding shared by the Mailgun routes: forms, yes/no values, dates, absolute URLs."""

from __future__ import annotations

import calendar
import email.utils
import json
import re
import time
from typing import Any

from quart import request
from werkzeug.datastructures import FileStorage, MultiDict

from ..errors import BadRequest

TRUE_WORDS = frozenset({"yes", "true"})
FALSE_WORDS = frozenset({"no", "false"})
NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")


def parse_bool(value: str | None, *, default: bool = False, field: str = "value",
               allow_htmlonly: bool = False) -> Any:
    """Mailgun's yes/no switches: yes/no/true/false (any case), ``htmlonly`` where allowed."""
    if value is None or value == "":
        return default
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    if allow_htmlonly and word == "htmlonly":
        return "htmlonly"
    raise BadRequest(f"'{field}' parameter is not a valid boolean value: {value}")


def parse_date(value: str) -> float:
    """An RFC 2822 date (``GMT``, ``UTC``, ``+0000``…) or epoch seconds (may be fractional).
    ASCII only: ``int()`` and ``\\d`` would also read other scripts' digits."""
    text = value.strip()
    if not text.isascii():
        raise ValueError(f"{value} is not an RFC-2822 compliant date")
    if NUMBER.match(text):
        return float(text)
    text = re.sub(r"\bUTC$", "GMT", text)
    parsed = email.utils.parsedate_tz(text)
    if parsed is None:
        raise ValueError(f"{value} is not an RFC-2822 compliant date")
    return float(email.utils.mktime_tz(parsed))


def format_date(ts: float) -> str:
    """RFC 2822 in UTC, the way Mailgun writes dates inside JSON: ``Fri, 21 Nov 2025 04:59:00 UTC``."""
    return time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(ts))


def day_start(ts: float) -> float:
    t = time.gmtime(ts)
    return float(calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0)))


async def read_fields() -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    """Body fields (multipart, urlencoded or JSON object) and file parts. Repeated keys are kept."""
    content_type = (request.mimetype or "").lower()
    if content_type == "application/json":
        data = await request.get_json(force=True, silent=True)
        fields: MultiDict[str, str] = MultiDict()
        if isinstance(data, dict):
            for key, value in data.items():
                for item in value if isinstance(value, list) else [value]:
                    fields.add(key, item if isinstance(item, str) else json.dumps(item))
        return fields, MultiDict()
    form = await request.form
    files = await request.files
    return MultiDict(form), MultiDict(files)


def query_arg(name: str) -> str | None:
    """A query parameter; when repeated (mailgun.js re-sends options), the first value."""
    value = request.args.get(name)
    if value is None or value in ("undefined", "null"):
        return None
    return value


def base_url() -> str:
    """Absolute origin for links: ``gateway.public_url`` if set, else the request's own."""
    from ..web import current_gateway

    configured = current_gateway().settings.gateway.public_url
    if configured:
        return configured.rstrip("/")
    return request.host_url.rstrip("/")
