"""Turning the fields of a Mailgun send call into a :class:`~postgate.domain.Message`.

Pure functions over multi-dicts (``getlist``/``items(multi=True)``): no request objects, so every
rule can be tested without an app. Every error is a :class:`~postgate.errors.BadRequest` carrying
Mailgun's own text where Mailgun documents one.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Iterable
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from typing import Any, Protocol

from ..addresses import PLAIN_ADDRESS
from ..domain import Attachment, Message
from ..errors import BadRequest
from ..limits import load_json
from .parsing import parse_bool, parse_date

MAX_RECIPIENTS = 1000
MAX_OPTIONS_BYTES = 16 * 1024
MAX_TAG_LENGTH = 128
FILE_FIELDS = ("attachment", "inline")
#: Yes/no switches validated here; ``o:tracking-clicks`` also takes ``htmlonly``.
YES_NO_OPTIONS = (
    "o:testmode",
    "o:tracking",
    "o:tracking-clicks",
    "o:tracking-opens",
    "o:dkim",
    "o:require-tls",
    "o:skip-verification",
    "o:tracking-pixel-location-top",
)
TEMPLATE_FIELDS = ("template",)
URLENCODED = ("application/x-www-form-urlencoded", "application/x-url-encoded")

LOCAL_ATOM = r"[^\s\"(),.:;<>@\[\]\\]+"
LOCAL_PART = rf"(?:{LOCAL_ATOM}(?:\.{LOCAL_ATOM})*|\"(?:[^\"\\\r\n]|\\.)*\")"
LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
DOMAIN_PART = rf"(?:{LABEL}(?:\.{LABEL})*|\[[^\[\]\s\\]+\])"
ADDRESS = re.compile(rf"{LOCAL_PART}@{DOMAIN_PART}")
#: RFC 5322 field names: printable ASCII except the colon.
HEADER_NAME = re.compile(r"[!-9;-~]+")
LINE_BREAK = re.compile(r"[ \t]*(?:\r\n|\r|\n)[ \t]*")


class Fields(Protocol):
    """What this module needs of a multi-dict (werkzeug's ``MultiDict`` fits)."""

    def getlist(self, key: str) -> list[Any]: ...

    def items(self, multi: bool = ...) -> Iterable[tuple[str, Any]]: ...

    def __contains__(self, key: object) -> bool: ...


# -- entry points ---------------------------------------------------------------------------


def check_content_type(mimetype: str | None, fields: Fields) -> None:
    """Files need multipart: file fields in an urlencoded body are Mailgun's content-type error."""
    if (mimetype or "").lower() not in URLENCODED:
        return
    if any(name in fields for name in (*FILE_FIELDS, "message")):
        raise BadRequest(
            "Invalid request content type. Expecting 'multipart/form-data' but got "
            f"'{(mimetype or '').lower()}'"
        )


def parse_message(fields: Fields, files: Fields, domain: str) -> Message:
    """A ``POST /v3/<domain>/messages`` call as a :class:`Message`."""
    sender = parse_sender(fields)
    to = parse_recipients(fields, "to", required=True)
    cc = parse_recipients(fields, "cc")
    bcc = parse_recipients(fields, "bcc")
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
        raise BadRequest(f"Too many recipients, max is {MAX_RECIPIENTS}")
    for name in TEMPLATE_FIELDS:
        if present(fields, name):
            raise BadRequest(
                f"'{name}' parameter is not supported: Postgate has no stored templates, "
                "send 'text' or 'html' instead"
            )
    text, html = first(fields, "text"), first(fields, "html")
    if not text and not html:
        raise BadRequest("Need at least one of 'text' or 'html' parameters specified")
    return Message(
        domain=domain,
        sender=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=first(fields, "subject"),
        text=text or None,
        html=html or None,
        amp_html=first(fields, "amp-html") or None,
        attachments=parse_attachments(fields, files),
        **parse_common(fields),
    )


def parse_mime_message(fields: Fields, files: Fields, domain: str) -> Message:
    """A ``POST /v3/<domain>/messages.mime`` call: envelope ``to`` plus a raw ``message`` file."""
    to = parse_recipients(fields, "to", required=True)
    if len(to) > MAX_RECIPIENTS:
        raise BadRequest(f"Too many recipients, max is {MAX_RECIPIENTS}")
    uploads = files.getlist("message")
    if not uploads:
        if present(fields, "message"):
            raise BadRequest("'message' parameter is not a file")
        raise BadRequest("message parameter is missing")
    raw = uploads[0].read()
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    return Message(
        domain=domain,
        sender=mime_header(headers, "From") or mime_header(headers, "Sender") or "",
        to=to,
        subject=mime_header(headers, "Subject"),
        mime=raw,
        **parse_common(fields),
    )


# -- addresses ------------------------------------------------------------------------------


def split_entries(value: str) -> list[str]:
    """Split at commas outside quotes, angle brackets and comments; blank entries are dropped."""
    if not any(char in value for char in '"<(\\'):
        return [entry.strip() for entry in value.split(",") if entry.strip()]
    entries, current = [], []
    quoted, escaped, angle, comment = False, False, 0, 0
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = quoted or comment > 0
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == "(":
            comment += 1
        elif char == ")" and comment:
            comment -= 1
        elif char == "<" and not comment:
            angle += 1
        elif char == ">" and angle:
            angle -= 1
        elif char == "," and not (angle or comment):
            entries.append("".join(current))
            current = []
            continue
        current.append(char)
    entries.append("".join(current))
    return [entry.strip() for entry in entries if entry.strip()]


def is_valid_address(address: str) -> bool:
    """Whether ``address`` is a plain addr-spec (``local@domain``)."""
    return bool(address) and ADDRESS.fullmatch(address) is not None


def parse_address_field(values: Iterable[str], name: str) -> list[str]:
    """Entries (``"Name" <addr>`` or bare, as sent) of every value of field ``name``, validated."""
    entries: list[str] = []
    for value in values:
        for entry in split_entries(value):
            if PLAIN_ADDRESS.fullmatch(entry) and is_valid_address(entry):
                entries.append(entry)  # the common case, without RFC 5322 parsing
                continue
            parsed = [pair for pair in getaddresses([entry]) if pair != ("", "")]
            if len(parsed) != 1 or not is_valid_address(parsed[0][1]):
                raise BadRequest(f"{name} parameter is not a valid address. please check documentation")
            entries.append(entry)
    return entries


def parse_recipients(fields: Fields, name: str, *, required: bool = False) -> list[str]:
    entries = parse_address_field(fields.getlist(name), name)
    if required and not entries:
        raise BadRequest(f"{name} parameter is missing")
    return entries


def parse_sender(fields: Fields) -> str:
    """``from``: required; anymail may repeat it, so several values are joined."""
    entries = parse_address_field(fields.getlist("from"), "from")
    if not entries:
        raise BadRequest("from parameter is missing")
    return ", ".join(entries)


# -- options, headers, variables ----------------------------------------------------------------


def parse_common(fields: Fields) -> dict[str, Any]:
    """The ``o:``, ``h:``, ``v:`` and ``recipient-variables`` parts, as :class:`Message` keywords."""
    check_options_size(fields)
    headers, header_variables = parse_headers(fields)
    options = parse_options(fields)
    for name in YES_NO_OPTIONS:
        parse_switch(options, name, allow_htmlonly=name == "o:tracking-clicks")
    tracking = parse_switch(options, "o:tracking", default=None)
    if tracking is False:
        opens = clicks = False
    else:
        opens = parse_switch(options, "o:tracking-opens", default=bool(tracking))
        clicks = parse_switch(options, "o:tracking-clicks", default=bool(tracking), allow_htmlonly=True)
    deliver_at = None
    if options.get("o:deliverytime"):
        deliver_at = parse_delivery_time(options["o:deliverytime"])
    return {
        "headers": headers,
        "variables": {**header_variables, **parse_variables(fields)},
        "recipient_variables": parse_recipient_variables(fields),
        "tags": parse_tags(fields.getlist("o:tag")),
        "options": options,
        "testmode": parse_switch(options, "o:testmode", default=False),
        "deliver_at": deliver_at,
        "tracking_opens": opens,
        "tracking_clicks": clicks,
    }


def check_options_size(fields: Fields) -> None:
    total = sum(
        len(key.encode()) + len(str(value).encode())
        for key, value in fields.items(multi=True)
        if key.startswith(("o:", "h:", "v:"))
    )
    if total > MAX_OPTIONS_BYTES:
        raise BadRequest("Send options (parameters starting with o:, h:, or v:) are limited to 16 kB total")


def parse_options(fields: Fields) -> dict[str, str]:
    """Every ``o:`` field except ``o:tag`` (kept in ``tags``), raw; the first of repeated values."""
    options: dict[str, str] = {}
    for key, value in fields.items(multi=True):
        if key.startswith("o:") and key != "o:tag" and key not in options:
            options[key] = value
    return options


def parse_switch(options: dict[str, str], name: str, *, default: Any = None,
                 allow_htmlonly: bool = False) -> Any:
    return parse_bool(options.get(name), default=default, field=name, allow_htmlonly=allow_htmlonly)


def parse_delivery_time(value: str) -> float:
    try:
        return parse_date(value)
    except (ValueError, OverflowError):
        raise BadRequest(f"{value} is not an RFC-2822 compliant date") from None


def parse_headers(fields: Fields) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``h:`` fields in order, and the variables of ``h:X-Mailgun-Variables``.

    Line breaks inside values are folded into spaces so a value cannot add headers; a header
    whose value is empty is left out, as if it had not been sent.
    """
    headers: list[tuple[str, str]] = []
    variables: dict[str, str] = {}
    for key, value in fields.items(multi=True):
        if not key.startswith("h:"):
            continue
        name = key[2:]
        if not name.isascii():
            raise BadRequest(f"Header name must be pure ASCII: {name}")
        if not HEADER_NAME.fullmatch(name):
            raise BadRequest(f"Header name is not valid: {name!r}")
        if name.lower() == "x-mailgun-variables":
            variables.update(parse_json_object(value, key, stringify=True))
            continue
        value = LINE_BREAK.sub(" ", value).strip()
        if value:
            headers.append((name, value))
    return headers, variables


def parse_variables(fields: Fields) -> dict[str, str]:
    """``v:<name>`` fields; the first value counts when a name repeats (as for ``o:`` options)."""
    variables: dict[str, str] = {}
    for key, value in fields.items(multi=True):
        if key.startswith("v:") and key[2:]:
            variables.setdefault(key[2:], value)
    return variables


def parse_recipient_variables(fields: Fields) -> dict[str, dict[str, Any]] | None:
    """``None`` when absent; any JSON object (even ``{}``) switches batch mode on."""
    values = fields.getlist("recipient-variables")
    if not values:
        return None
    return parse_json_object(values[0], "recipient-variables")


def parse_json_object(value: str, name: str, *, stringify: bool = False) -> dict[str, Any]:
    try:
        data = load_json(value)
    except (TypeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise BadRequest(f"'{name}' parameter is not a valid JSON")
    if stringify:
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    return data


def parse_tags(values: Iterable[str]) -> list[str]:
    """Tags as sent, never split: non-ASCII stripped, empty ones dropped, at most 128 characters,
    case-insensitive duplicates dropped. The count is never a reason to refuse a send."""
    tags: list[str] = []
    seen: set[str] = set()
    for value in values:
        tag = "".join(ch for ch in value if ch.isascii()).strip()[:MAX_TAG_LENGTH].strip()
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            tags.append(tag)
    return tags


# -- files ----------------------------------------------------------------------------------


def parse_attachments(fields: Fields, files: Fields) -> list[Attachment]:
    """``attachment`` and ``inline`` file parts, in order of kind."""
    attachments = []
    for name in FILE_FIELDS:
        if present(fields, name):
            raise BadRequest(f"'{name}' parameter is not a file")
        for upload in files.getlist(name):
            filename = upload.filename or name
            content_type = upload.content_type or mimetypes.guess_type(filename)[0]
            attachments.append(
                Attachment(
                    filename=filename,
                    content_type=content_type or "application/octet-stream",
                    data=upload.read(),
                    inline=name == "inline",
                )
            )
    return attachments


# -- small helpers ----------------------------------------------------------------------------


def first(fields: Fields, name: str) -> str | None:
    values = fields.getlist(name)
    return values[0] if values else None


def present(fields: Fields, name: str) -> bool:
    """Whether a field was sent with a non-empty value."""
    return any(value != "" for value in fields.getlist(name))


def mime_header(headers: Any, name: str) -> str | None:
    try:
        value = headers.get(name)
    except (ValueError, IndexError, TypeError):
        return None
    return str(value) if value is not None else None
