"""A text body's transfer encoding and payload, decided once per batch.

The slow path substitutes a recipient's values into the body, scans every line of the result to
choose the transfer encoding (:func:`transfer_encoding`) and converts its line ends
(:func:`encode_body`). A :class:`BodyTemplate` does that work on the batch's template once: it
splits the body at its ``%recipient.KEY%`` and built-in variables, checks the literal text
(7-bit? how long is each line without its values?) and keeps a line-end-converted pattern. Per
recipient only the substituted values are checked: when they are 7-bit, hold no line break and
no ``%`` (which a built-in variable could be read from), the longest line is known from their
lengths and the payload is the pattern filled in, byte for byte what the slow path writes
(tests/test_body_template.py checks it on random bodies and values). Anything else takes the
slow path.
"""

from __future__ import annotations

import binascii
import re
from collections import Counter

from .substitution import BUILTIN_VAR, RECIPIENT_VAR, Substituter, scalar

#: Longest line a 7-bit body may hold (RFC 5322's 998 less room for the MTA's own changes).
MAX_7BIT_LINE = 990
#: The 7-bit characters :meth:`str.splitlines` breaks at.
_ASCII_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e]")
_NEWLINES = re.compile(r"\r\n|\r|\n")
#: A built-in variable that a recipient's value (``\x00``) could complete: ``%recipient_%x.y%%``.
_SPANNING = re.compile("%[a-z_\x00]*\x00[a-z_\x00]*%")
#: Stand-ins for the values while the template's lines are measured (private-use characters).
_MARKERS = 0xE000


def encode_body(content: str, cte: str) -> bytes:
    """A text part's payload as the stdlib generator writes it (see ``Renderer._text_part``)."""
    if cte == "base64":  # base64.encodebytes' 76-column lines, without its Python loop
        encoded = binascii.b2a_base64(content.encode("utf-8"), newline=False)
        return b"\r\n".join([encoded[start:start + 76] for start in range(0, len(encoded), 76)]) + b"\r\n"
    if not content.endswith("\n"):
        content += "\n"
    if "\r" in content:
        return _NEWLINES.sub("\r\n", content).encode("ascii")
    return content.replace("\n", "\r\n").encode("ascii")


def transfer_encoding(text: str) -> str:
    """7bit when the text allows it, else base64 (C-fast; the stdlib would try quoted-printable
    in pure Python first, which costs more than the rest of a render)."""
    if text.isascii() and max(map(len, text.splitlines()), default=0) <= MAX_7BIT_LINE:
        return "7bit"
    return "base64"


def _pattern(literals: list[str], slots: list[int]) -> str:
    """A ``str.format`` pattern: the literals with ``{index}`` of each slot between them."""
    pieces = [literals[0].replace("{", "{{").replace("}", "}}")]
    for slot, literal in zip(slots, literals[1:]):
        pieces.append("{%d}" % slot)
        pieces.append(literal.replace("{", "{{").replace("}", "}}"))
    return "".join(pieces)


class BodyTemplate:
    """One text body of a batch (``None`` when the message has no such part)."""

    __slots__ = ("text", "keys", "recipient_pattern", "names", "plain", "literals_ascii", "fast", "line_groups",
                 "crlf_literals", "slots")

    def __init__(self, text: str | None) -> None:
        self.text = text
        self.keys: list[str] = []
        self.recipient_pattern = ""
        self.fast = False
        if not text:
            return
        pieces = RECIPIENT_VAR.split(text)  # literal, key, literal, …, literal
        if "%" in text:
            self.keys = list(dict.fromkeys(pieces[1::2]))
            slots = {key: index for index, key in enumerate(self.keys)}
            self.recipient_pattern = _pattern(pieces[0::2], [slots[key] for key in pieces[1::2]])
        self._plan(pieces)

    def _plan(self, pieces: list[str]) -> None:
        """Split at every variable; measure and convert the literal text once."""
        names: dict[tuple[str, str], int] = {}  # ("r", key) or ("b", builtin) -> slot
        literals: list[str] = []
        slots: list[int] = []
        for position, piece in enumerate(pieces):
            if position % 2:  # a recipient key
                slots.append(names.setdefault(("r", piece), len(names)))
                continue
            parts = BUILTIN_VAR.split(piece)
            literals.append(parts[0])
            for name, literal in zip(parts[1::2], parts[2::2]):
                slots.append(names.setdefault(("b", name), len(names)))
                literals.append(literal)
        self.names = list(names)
        self.plain = _pattern(literals, slots)
        self.literals_ascii = all(literal.isascii() for literal in literals)
        #: The 7-bit payload's pieces: the literals line-end-converted and encoded once, and the
        #: slot of each value between them.
        self.slots = slots
        self.crlf_literals = [_NEWLINES.sub("\r\n", literal).encode("utf-8") for literal in literals]
        # Built-in variables are read after the recipient's values are in: one that a value could
        # complete, or a CR a value could join to a later LF, makes every recipient go slow.
        self.fast = (not _SPANNING.search(RECIPIENT_VAR.sub("\x00", self.text or ""))
                     and not any(literal.endswith("\r") for literal in literals[:-1]))
        marked = _pattern(literals, slots).format(*(chr(_MARKERS + index) for index in range(len(names))))
        groups: dict[tuple[tuple[int, int], ...], int] = {}
        for line in marked.splitlines() or [""]:
            counts = Counter(ord(char) - _MARKERS for char in line if ord(char) >= _MARKERS
                             and ord(char) - _MARKERS < len(names))
            key = tuple(sorted(counts.items()))
            literal_length = len(line) - sum(counts.values())
            groups[key] = max(groups.get(key, 0), literal_length)
        #: Lines by the values they hold: ``(((slot, times), …), longest literal length)``.
        self.line_groups = list(groups.items())

    def substitute(self, substitute: Substituter) -> str | None:
        """The body with the recipient's values in: exactly ``substitute(text)``."""
        text = self.text
        if not text or "%" not in text:
            return text
        if self.keys:
            variables = substitute.variables
            text = self.recipient_pattern.format(*[scalar(variables[key]) if key in variables
                                                   else f"%recipient.{key}%" for key in self.keys])
        builtins = substitute.builtins

        def builtin(match: re.Match[str]) -> str:
            value = builtins.get(match.group(1))
            return match.group(0) if value is None else value

        return BUILTIN_VAR.sub(builtin, text)

    def slow(self, substitute: Substituter) -> tuple[str, bytes] | None:
        """``(transfer encoding, payload)`` by substituting, scanning and converting the whole body."""
        content = self.substitute(substitute)
        if content is None:
            return None
        cte = transfer_encoding(content)
        return cte, encode_body(content, cte)

    def __call__(self, substitute: Substituter) -> tuple[str, bytes] | None:
        """``(transfer encoding, payload)`` for one recipient: what :meth:`slow` returns."""
        if not self.fast:
            return self.slow(substitute)
        values = self._values(substitute)
        if values is None:
            return self.slow(substitute)
        joined = "".join(values)
        if self.literals_ascii and joined.isascii():
            if _ASCII_BREAKS.search(joined):
                return self.slow(substitute)
            lengths = [len(value) for value in values]
            longest = max(literal + sum(lengths[slot] * times for slot, times in slots)
                          for slots, literal in self.line_groups)
            if longest <= MAX_7BIT_LINE:
                return "7bit", self._crlf_payload(values)
        return "base64", encode_body(self.plain.format(*values), "base64")

    def _crlf_payload(self, values: list[str]) -> bytes:
        """The 7-bit payload: the converted literals with the (7-bit, break-free) values between
        them, joined once instead of formatting and encoding the whole body."""
        literals = self.crlf_literals
        pieces: list[bytes] = [b""] * (2 * len(literals) - 1)
        pieces[0::2] = literals
        encoded = [value.encode("ascii") for value in values]
        pieces[1::2] = [encoded[slot] for slot in self.slots]
        last = next((piece for piece in reversed(pieces) if piece), b"")
        if not last.endswith(b"\n"):  # the stdlib ends a payload with a line break
            pieces.append(b"\r\n")
        return b"".join(pieces)

    def _values(self, substitute: Substituter) -> list[str] | None:
        """Each slot's value, or ``None`` when one needs the slow path (a missing key, or a value
        with ``%`` in which the slow path would look for built-in variables)."""
        variables, builtins = substitute.variables, substitute.builtins
        values: list[str] = []
        for kind, name in self.names:
            if kind == "r":
                if name not in variables:
                    return None
                value = scalar(variables[name])
                if "%" in value:
                    return None
            else:
                found = builtins.get(name)
                value = f"%{name}%" if found is None else found
            values.append(value)
        return values

