"""The one rule for every header value Postgate writes, whatever its origin.

A header line ends at a line break, so a value holding one could add headers or push them into
the body. The rule: CR, LF, NUL, every other C0 control except the tab, DEL, and every other
character :meth:`str.splitlines` breaks at (U+0085, U+2028, U+2029) never reach a header.

- Values a client writes (``subject``, ``h:*`` values, display names, attachment file names and
  content types) may carry RFC 5322 folding (a line break followed by a space or a tab), which is
  unfolded, and line breaks at either end, which are dropped; anything else forbidden is refused
  at accept (:class:`UnsafeHeaderValue`, turned into a 400 there). Rendering checks again (the
  batch-wide values once per batch, the others after per-recipient substitution): a recipient
  whose variables make a value unsafe fails, the rest of the batch goes.
- Tags are cleaned, not refused: Mailgun strips what a tag cannot hold (non-ASCII) and never
  refuses a send because of a tag, so control characters are stripped the same way (and the ``?``
  of ``=?``, which would start an RFC 2047 encoded word).
- ``v:`` values are data, not header text: they reach ``X-Mailgun-Variables`` JSON-escaped
  (:func:`json_value`: printable ASCII, ``=?`` escaped too so that no parser takes the text for
  an RFC 2047 encoded word), which round-trips every character.
- Encoded words a client wrote (``=?utf-8?q?...?=``) are passed on, but their decoded text follows
  the same rule; and every header the standard library folds must come out as exactly one field
  (:func:`check_folded`).
- Uploaded MIME (``messages.mime``) is sent as stored, so its header block must already be clean:
  :func:`check_mime` refuses NUL and bare CR anywhere, lines that are neither ``name: value`` nor a
  continuation, mixed line ends and forbidden characters in the header block.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: What never reaches a header unencoded (see the module docstring).
FORBIDDEN = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
#: RFC 5322 folding: CRLF (or LF) before white space; unfolding removes the line break.
FOLDING = re.compile(r"\r?\n(?=[ \t])")
#: RFC 5322 field names: printable ASCII except the colon.
HEADER_NAME = re.compile(r"[!-9;-~]+")
#: Characters a tag keeps: printable ASCII (Mailgun: tags are ASCII only).
TAG_DROPPED = re.compile(r"[^\x20-\x7e]+")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
#: A Message-ID between its brackets, RFC 5322's ``id-left "@" id-right`` (7-bit, no obsolete forms).
MESSAGE_ID = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@(?:{_ATEXT}(?:\.{_ATEXT})*|\[[!-Z^-~]*\])")


class UnsafeHeaderValue(ValueError):
    """A header value that would hold a line break or control character."""

    def __init__(self, name: str, value: str, *, after_substitution: bool = False, problem: str = "") -> None:
        self.name = name
        self.value = value
        if not problem:
            found = FORBIDDEN.search(value)
            problem = f"hold a line break or control character (U+{ord(found.group()) if found else 0:04X})"
        where = " after substitution" if after_substitution else ""
        super().__init__(f"the {name} header would {problem}{where}")


def is_safe(value: str) -> bool:
    """Whether ``value`` can be written into a header as it is."""
    return FORBIDDEN.search(value) is None


def clean_value(name: str, value: str, *, after_substitution: bool = False) -> str:
    """``value`` unfolded and without line breaks at either end; raises :class:`UnsafeHeaderValue`
    when a forbidden character remains."""
    if FORBIDDEN.search(value) is None:
        return value
    cleaned = FOLDING.sub("", value).strip("\r\n")
    if FORBIDDEN.search(cleaned) is not None:
        raise UnsafeHeaderValue(name, cleaned, after_substitution=after_substitution)
    return cleaned


def check_headers(headers: list[tuple[str, str]], *, after_substitution: bool = True) -> None:
    """Raise :class:`UnsafeHeaderValue` for the first unsafe value (rendering's check)."""
    for name, value in headers:
        if FORBIDDEN.search(value) is not None:
            raise UnsafeHeaderValue(name, value, after_substitution=after_substitution)


def check_message_id(bare: str) -> None:
    """Raise :class:`UnsafeHeaderValue` unless ``<bare>`` is a Message-ID a 7-bit header can carry."""
    if MESSAGE_ID.fullmatch(bare) is None:
        raise UnsafeHeaderValue("Message-ID", bare, after_substitution=True,
                                problem="not be a valid message id (RFC 5322 id-left@id-right, ASCII)")


#: One folded 7-bit header: ``Name: value`` and continuation lines (white space first), CRLF ends.
FOLDED_FIELD = re.compile(rb"[!-9;-~]+:[\t -~]*(?:\r\n[ \t][\t -~]*)*\r\n")


def check_folded(name: str, folded: bytes) -> None:
    """Raise :class:`UnsafeHeaderValue` unless ``folded`` is exactly one header field.

    The last line of defence: the standard library decodes encoded words (``=?utf-8?q?=0A?=``) in
    a value it is given and, before Python 3.13, may write the decoded line breaks out raw."""
    if FOLDED_FIELD.fullmatch(folded) is None:
        raise UnsafeHeaderValue(name, folded.decode("ascii", "replace"), problem="not fold into one header field")


def fold_ascii(name: str, value: str, width: int = 78) -> bytes:
    """``Name: value`` folded by inserting CRLF before spaces only, so unfolding gives ``value``
    back character for character (the standard library's folder may add or drop a space). Lines
    stay within ``width`` where a space allows, and never hold only white space. ``value`` must be
    printable ASCII (as :func:`json_value` writes)."""
    lines: list[str] = []
    line = f"{name}:"
    for word in value.split(" "):
        piece = " " + word
        if len(line) + len(piece) > width and line.strip(" \t") and line.rstrip(" ") != f"{name}:":
            lines.append(line)
            line = piece
        else:
            line += piece
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def decoded_is_safe(header: Any) -> bool:
    """Whether a parsed header's value (encoded words decoded) is free of forbidden characters."""
    return FORBIDDEN.search(str(header)) is None


def clean_tag(value: str) -> str:
    """A tag as Mailgun keeps it: printable ASCII only (controls stripped like non-ASCII), trimmed;
    never holding ``=?`` (the ``?`` is dropped), so no header parser decodes it as an encoded word."""
    return TAG_DROPPED.sub("", value).replace("=?", "=").strip()


def json_value(data: Any) -> str:
    """``data`` as JSON for a header, in printable ASCII: controls, line breaks and non-ASCII
    escaped, and ``=?`` too (never an encoded word), so folding cannot change a string in it."""
    return json.dumps(data).replace("\x7f", "\\u007f").replace("=?", "=\\u003f")


# -- uploaded MIME ----------------------------------------------------------------------------

#: A header line: a field name, a colon, a value; or a continuation (starts with white space).
_FIELD_LINE = re.compile(rb"[!-9;-~]+:[^\r\n]*")
_CONTINUATION = re.compile(rb"[ \t][^\r\n]*")
_BARE_CR = re.compile(rb"\r(?!\n)")


class UnsafeMime(ValueError):
    """An uploaded MIME message whose header block is not safe to send as stored."""


def header_block(raw: bytes) -> tuple[bytes, bytes]:
    """The header block of ``raw`` (without the empty line) and its line end (CRLF or LF)."""
    crlf, lf = raw.find(b"\r\n\r\n"), raw.find(b"\n\n")
    first_end = raw.find(b"\n")
    eol = b"\r\n" if first_end > 0 and raw[first_end - 1:first_end] == b"\r" else b"\n"
    end = crlf if eol == b"\r\n" else lf
    if end < 0:
        return raw, eol
    return raw[:end], eol


def check_mime(raw: bytes) -> None:
    """Raise :class:`UnsafeMime` unless ``raw``'s header block is one a parser cannot misread."""
    if b"\x00" in raw:
        raise UnsafeMime("it contains a NUL byte")
    if _BARE_CR.search(raw):
        raise UnsafeMime("it contains a CR that is not followed by LF")
    block, eol = header_block(raw)
    if not block.strip():
        raise UnsafeMime("it has no header")
    lines = block.split(eol)
    if lines[-1] == b"" and len(lines) > 1 and block.endswith(eol):
        lines.pop()
    for index, line in enumerate(lines):
        if eol == b"\r\n" and b"\n" in line:
            raise UnsafeMime("its header lines mix CRLF and LF line ends")
        if _FIELD_LINE.fullmatch(line) is None and (index == 0 or _CONTINUATION.fullmatch(line) is None):
            raise UnsafeMime(f"header line {index + 1} is not 'name: value'")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafeMime(f"header line {index + 1} is not UTF-8") from None
        if FORBIDDEN.search(text) is not None:
            raise UnsafeMime(f"header line {index + 1} holds a control character or line break")
