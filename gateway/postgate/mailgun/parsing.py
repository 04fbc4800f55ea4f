"""Request decoding shared by the Mailgun routes: forms, yes/no values, dates, absolute URLs."""

from __future__ import annotations

import calendar
import email.utils
import json
import math
import re
import time
from typing import Any

from quart import current_app, request
from werkzeug.datastructures import FileStorage, MultiDict

from ..errors import BadRequest, TooLarge
from ..limits import JsonRefused, load_json
from .multipart import parse_plain_form

TRUE_WORDS = frozenset({"yes", "true"})
FALSE_WORDS = frozenset({"no", "false"})
NUMBER = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")
#: Latest date accepted anywhere (9999-12-31 23:59:59 UTC): what RFC 2822 dates, ``time.gmtime``
#: and every storage can hold and give back. Dates before the epoch are refused too.
MAX_TIMESTAMP = 253402300799.0
#: Longest date text read (an RFC 2822 date is about 31 characters, 60 with a zone comment).
MAX_DATE_TEXT = 128


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
    """An RFC 2822 date (``GMT``, ``UTC``, ``+0000``…) or epoch seconds (may be fractional),
    between the epoch and the end of year 9999; ``ValueError`` for anything else. ASCII only:
    ``int()`` and ``\\d`` would also read other scripts' digits."""
    text = value.strip()
    if len(text) > MAX_DATE_TEXT:
        raise ValueError(f"{value[:MAX_DATE_TEXT]}… is not an RFC-2822 compliant date")
    if not text.isascii():
        raise ValueError(f"{value} is not an RFC-2822 compliant date")
    if NUMBER.match(text):
        return checked_timestamp(float(text), value)
    text = re.sub(r"\bUTC$", "GMT", text)
    try:
        parsed = email.utils.parsedate_tz(text)
        seconds = float(email.utils.mktime_tz(parsed)) if parsed is not None else None
    except (ValueError, OverflowError, TypeError):
        seconds = None
    if seconds is None:
        raise ValueError(f"{value} is not an RFC-2822 compliant date")
    return checked_timestamp(seconds, value)


def checked_timestamp(seconds: float, shown: object = None) -> float:
    """``seconds`` if it is a date Postgate can store and show (see :data:`MAX_TIMESTAMP`)."""
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_TIMESTAMP):
        raise ValueError(f"{seconds if shown is None else shown} is out of the supported date range")
    return seconds


def format_date(ts: float) -> str:
    """RFC 2822 in UTC, the way Mailgun writes dates inside JSON: ``Fri, 21 Nov 2025 04:59:00 UTC``."""
    return time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime(ts))


def day_start(ts: float) -> float:
    t = time.gmtime(ts)
    return float(calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0)))


async def read_fields(*, spool_files: bool = False) -> tuple[MultiDict[str, str], MultiDict[str, FileStorage]]:
    """Body fields (multipart, urlencoded or JSON object) and file parts. Repeated keys are kept.

    ``spool_files``: a route that takes a big file (a CSV import) has a multipart body parsed as
    it arrives, its files spooled to disk, instead of read whole into memory first."""
    content_type = (request.mimetype or "").lower()
    if content_type == "application/json":
        data = await json_body()
        fields: MultiDict[str, str] = MultiDict()
        if isinstance(data, dict):
            for key, value in data.items():
                for item in value if isinstance(value, list) else [value]:
                    fields.add(key, item if isinstance(item, str) else json.dumps(item))
        if len(fields) > current_app.config["MAX_FORM_PARTS"]:
            raise TooLarge(f"Request too large: at most {current_app.config['MAX_FORM_PARTS']} fields")
        return fields, MultiDict()
    if content_type == "multipart/form-data" and not spool_files:
        # The body as Quart reads it for the form (same size bound and timeout); a plain one is
        # split here, anything else is left to Quart's parser (see .multipart).
        plain = parse_plain_form(await request.get_data(cache=True), request.mimetype_params.get("boundary"),
                                 max_parts=request.max_form_parts, max_field_bytes=request.max_form_memory_size)
        if plain is not None:
            return plain, MultiDict()
    form = await request.form
    files = await request.files
    return MultiDict(form), MultiDict(files)


async def json_body() -> Any:
    """The request body as JSON within :mod:`postgate.limits`'s bounds; ``None`` when it is empty
    or malformed (callers say what they expected); a 400 when it is refused for its size or depth."""
    raw = await request.get_data()
    if not raw.strip():
        return None
    try:
        return load_json(raw)
    except JsonRefused as exc:
        raise BadRequest(f"the JSON body is refused: {exc}") from None
    except ValueError:
        return None


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
