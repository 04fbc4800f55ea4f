"""Turning the fields of a Mailgun send call into a :class:`~postgate.domain.Message`.

Pure functions over multi-dicts (``getlist``/``items(multi=True)``): no request objects, so every
rule can be tested without an app. Every error is a :class:`~postgate.errors.BadRequest` carrying
Mailgun's own text where Mailgun documents one.
"""

from __future__ import annotations

import json
import mimetypes
import re
import time
from collections.abc import Iterable
from email.headerregistry import AddressHeader
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.policy import default as default_policy
from typing import Any, Protocol

from ..addresses import strict_entry, valid_address, valid_address_list
from ..domain import Attachment, Message
from ..errors import BadRequest
from ..headers import (HEADER_NAME, MESSAGE_ID, UnsafeHeaderValue, UnsafeMime, check_mime, clean_tag, clean_value,
                       decoded_is_safe)
from ..ids import strip_brackets
from ..limits import load_json
from .parsing import parse_bool, parse_date

MAX_RECIPIENTS = 1000
MAX_OPTIONS_BYTES = 16 * 1024
MAX_TAG_LENGTH = 128
#: Mailgun schedules at most 3 days ahead, or 7 on plans with longer storage: the larger bound.
MAX_SCHEDULE_DAYS = 7
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

#: A MIME type as the renderer needs it: ``type/subtype`` tokens, optionally with parameters.
MIME_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
CONTENT_TYPE = re.compile(rf"({MIME_TOKEN})/({MIME_TOKEN})(?:\s*;[ -~\t]*)?")
#: Top-level types whose parts are containers, never a file's bytes.
CONTAINER_TYPES = frozenset({"multipart", "message"})


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
        subject=parse_subject(first(fields, "subject")),
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
    try:
        check_mime(raw)
    except UnsafeMime as exc:
        raise BadRequest(f"'message' parameter is not a valid MIME message: {exc}") from None
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    for name, value in headers.raw_items():  # each value as rendering's header parser reads it
        try:
            str(default_policy.header_fetch_parse(name, value))
        except Exception:  # noqa: BLE001 - the parser raises more than HeaderParseError on bad input
            raise BadRequest(f"'message' parameter is not a valid MIME message: its {name} header "
                             "cannot be parsed") from None
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
    """Whether ``address`` is an addr-spec (``local@domain``) delivery can send to."""
    return valid_address(address)


def parse_address_field(values: Iterable[str], name: str) -> list[str]:
    """Entries (``"Name" <addr>`` or bare, as sent) of every value of field ``name``, each checked
    by the strict grammar (:func:`postgate.addresses.strict_entry`, which quotes a display name
    written without its quotes)."""
    entries: list[str] = []
    for value in values:
        for entry in split_entries(value):
            checked = strict_entry(entry)
            if checked is None:
                raise BadRequest(f"{name} parameter is not a valid address. please check documentation")
            entries.append(checked)
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


def parse_delivery_time(value: str, now: float | None = None) -> float:
    """An RFC 2822 date or epoch seconds (ASCII digits), at most :data:`MAX_SCHEDULE_DAYS` ahead.
    A past time means "now", as for Mailgun; it is kept as sent (stored as a float)."""
    try:
        when = parse_date(value)
    except (ValueError, OverflowError):
        raise BadRequest(f"{value} is not an RFC-2822 compliant date") from None
    if not -1e12 < when < 1e12:  # not a date (±31,000 years)
        raise BadRequest(f"{value} is not an RFC-2822 compliant date")
    if when - (time.time() if now is None else now) > MAX_SCHEDULE_DAYS * 86400:
        raise BadRequest(f"{value} is too far in the future: delivery can be scheduled at most "
                         f"{MAX_SCHEDULE_DAYS} days ahead")
    return when


def parse_headers(fields: Fields) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``h:`` fields in order, and the variables of ``h:X-Mailgun-Variables``.

    Values follow the header rule (:func:`postgate.headers.clean_value`: folding is unfolded, any
    other line break or control character is refused); a header whose value is empty is left out,
    as if it had not been sent. A value without variables must parse as its header (an address
    header, a Message-ID…) the way rendering will parse it. Of a header RFC 5322 allows once per
    message (``Reply-To``, ``Sender``…) the first value counts, as for repeated ``o:`` options.
    """
    headers: list[tuple[str, str]] = []
    variables: dict[str, str] = {}
    counts: dict[str, int] = {}
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
        value = header_value(f"'{key}' parameter", value).strip()
        limit = SMTP.header_max_count(name)
        if value and (limit is None or counts.get(name.lower(), 0) < limit):
            counts[name.lower()] = counts.get(name.lower(), 0) + 1
            if "%" not in value:
                check_parses(key, name, value)
                if name.lower() == "message-id" and not MESSAGE_ID.fullmatch(strip_brackets(value)):
                    raise BadRequest(f"'{key}' parameter is not a valid Message-Id")
            headers.append((name, value))
    return headers, variables


def header_value(what: str, value: str) -> str:
    """``value`` by the header rule, or a 400 in Mailgun's shape naming ``what``."""
    try:
        return clean_value(what, value)
    except UnsafeHeaderValue:
        raise BadRequest(f"{what} must not contain line breaks or control characters") from None


def check_parses(field: str, name: str, value: str) -> None:
    """The standard library's header parser (rendering's) must read ``value``; an address header
    must list valid addresses only."""
    try:
        header = SMTP.header_factory(name, value)
    except Exception:  # noqa: BLE001 - the parser raises more than HeaderParseError on bad input
        raise BadRequest(f"'{field}' parameter is not a valid {name} header value") from None
    if not decoded_is_safe(header):
        raise BadRequest(f"'{field}' parameter must not contain line breaks or control characters")
    if isinstance(header, AddressHeader) and not valid_address_list(value):
        raise BadRequest(f"'{field}' parameter is not a valid address. please check documentation")


def parse_subject(value: str | None) -> str | None:
    if value is None:
        return None
    value = header_value("'subject' parameter", value)
    if "=?" in value and "%" not in value:  # encoded words are passed on; what they hold follows the rule
        check_parses("subject", "Subject", value)
    return value


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
    """Tags as sent, never split: non-ASCII and control characters stripped (as Mailgun strips
    non-ASCII), empty ones dropped, at most 128 characters, case-insensitive duplicates dropped.
    Neither a tag's characters nor the count is a reason to refuse a send."""
    tags: list[str] = []
    seen: set[str] = set()
    for value in values:
        tag = clean_tag(value)[:MAX_TAG_LENGTH].strip()
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
            filename = header_value(f"'{name}' file name", upload.filename or name).strip() or name
            if "=?" in filename and not filename_is_safe(filename):
                raise BadRequest(f"'{name}' file name must not contain line breaks or control characters")
            attachments.append(
                Attachment(
                    filename=filename,
                    content_type=attachment_type(name, upload.content_type, filename),
                    data=upload.read(),
                    inline=name == "inline",
                )
            )
    return attachments


def attachment_type(field: str, sent: str | None, filename: str) -> str:
    """The part's content type as sent when it is a ``type/subtype`` (with parameters) for a file,
    else guessed from the file name; line breaks and control characters are refused."""
    content_type = header_value(f"'{field}' content type", sent or "").strip()
    match = CONTENT_TYPE.fullmatch(content_type)
    if match and match.group(1).lower() not in CONTAINER_TYPES:
        try:
            header = SMTP.header_factory("Content-Type", content_type)
        except Exception:  # noqa: BLE001 - the parser raises more than HeaderParseError on bad input
            pass
        else:
            if "=?" not in content_type or params_are_safe(header):
                return content_type
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def params_are_safe(header: Any) -> bool:
    """Whether a parsed parameterised header, its encoded words decoded (the standard library
    decodes them even inside quoted parameters, and writes what they hold when it folds), holds
    no forbidden character."""
    return decoded_is_safe(header) and all(decoded_is_safe(value) for value in header.params.values())


def filename_is_safe(filename: str) -> bool:
    """Whether ``filename`` stays one header line as the ``Content-Disposition`` parameter it becomes."""
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    try:
        header = SMTP.header_factory("Content-Disposition", f'attachment; filename="{quoted}"')
        return params_are_safe(header)
    except Exception:  # noqa: BLE001 - the parser raises more than HeaderParseError on bad input
        return False


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
