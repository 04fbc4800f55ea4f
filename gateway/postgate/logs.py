"""Logging set-up: console or JSON lines on stderr, with the current request's id on every record.

Structured fields travel as ``extra=`` on ordinary :mod:`logging` calls. The JSON formatter
(python-json-logger) writes them as keys beside ``ts``, ``level``, ``logger`` and ``message``; the
console formatter appends them as ``key=value``. See docs/logging.md.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["console", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]

#: The id of the HTTP request being handled (set by the access-log middleware), else ``None``.
REQUEST_ID: ContextVar[str | None] = ContextVar("postgate_request_id", default=None)

#: Libraries kept at WARNING whatever ``log_level`` says: at DEBUG they write SQL parameters
#: (message bodies), AWS request bodies and credentials' provenance, or one line per connection.
QUIET_LOGGERS = ("tortoise", "aiosqlite", "asyncmy", "aerich", "botocore", "boto3", "urllib3", "s3transfer")

#: Attributes every ``LogRecord`` has; anything else on a record came from ``extra=`` or a filter.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_CONSOLE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_NAME = "postgate"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record emitted while a request is handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = REQUEST_ID.get()
        if current is not None and not hasattr(record, "request_id"):
            record.request_id = current
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of ``record``: what ``extra=`` (or a filter) added to it."""
    return {key: value for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_")}


def console_value(value: Any) -> str:
    """``value`` as one token: plain when it is printable text without spaces, else JSON-quoted
    (client text such as a path can never break a line or fake a field)."""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value == value else "nan"
    if isinstance(value, (int, bool)) or value is None:
        return json.dumps(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    if text and text.isprintable() and not any(c in text for c in ' "='):
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in quoted)


class ConsoleFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value …`` for people reading a terminal or journald."""

    def __init__(self) -> None:
        super().__init__(_CONSOLE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = extra_fields(record)
        if not fields:
            return line
        tail = " ".join(f"{key}={console_value(value)}" for key, value in fields.items())
        head, newline, rest = line.partition("\n")  # keep a traceback below the fields
        return f"{head} {tail}{newline}{rest}"


class JsonLinesFormatter(JsonFormatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, then the fields."""

    def __init__(self) -> None:
        super().__init__("{levelname}{name}{message}", style="{", timestamp="ts",
                         rename_fields={"levelname": "level", "name": "logger"})

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {"ts": log_data.pop("ts"), **log_data}  # the time first, as in the console format


def configure_logging(log_format: LogFormat = "console", level: LogLevel | str = "info",
                      stream: Any = None) -> None:
    """Send every log record to the process's stderr (or ``stream``) in ``log_format``.

    The process's own stderr, not ``sys.stderr`` as it is now: a test's ``CliRunner`` swaps the
    latter for a buffer that holds the command's output. Calling it again replaces the handler an
    earlier call installed; handlers someone else put on the root logger are left alone.
    """
    handler = logging.StreamHandler(stream or sys.__stderr__ or sys.stderr)
    handler.setFormatter(JsonLinesFormatter() if log_format == "json" else ConsoleFormatter())
    handler.addFilter(RequestIdFilter())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)
