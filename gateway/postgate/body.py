"""A text body's transfer encoding and payload, decided once per batch.

The slow path substitutes a recipient's values into the body, scans every line of the result to
choose the transfer encoding (:func:`transfer_encoding`) and converts its line ends
(:func:`encode_body`). A :class:`BodyTemplate` does that work on the batch's template once: it
splits the body at its ``%recipient.KEY%`` and built-in variables, checks the literal text
(7-bit? how long is each line without its values?) and keeps a line-end-converted pattern. Per
recipient only the substituted values are checked: when they are 7-bit, hold no line break and
no ``%`` (which a built-in variable could be read from), the longest line is known from their
lengths and the payload is the literals' converted bytes joined with the values', byte for byte
what the slow path writes (tests/test_body_template.py checks it on random bodies and values).
A body that must go base64 (8-bit text, long lines) is joined from UTF-8 pieces the same way.
Its base64 is worked on in runs: the text between the values whose length (in UTF-8) has changed
from one recipient to another, with the values that have kept theirs (a tracking token) inside.
A run's bytes are then at the same offsets for every recipient, so the base64 lines wholly inside
a long run are encoded once per batch for each offset (within a 57-byte line) at which the values
before it leave it to start, and per recipient only the 4-character groups that cover the run's
own values are encoded again and put between the unchanged stretches of those lines. There a line
ends early rather than cut such a group (lines of at most 76 characters, as RFC 2045 asks, not
exactly 76), so the same token in twenty links is encoded once; decoded, the payload is byte for
byte the slow path's. Anything else takes the slow path.
"""

from __future__ import annotations

import binascii
import re
import struct
from collections import Counter
from collections.abc import Callable, Sequence
from operator import itemgetter

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


#: Bytes a 76-character base64 line encodes; literals at least this long get their lines cached,
#: in at most this many bytes of lines per body template.
_LINE_BYTES = 57
_LINE_CHARS = 76
_CACHED_LITERAL = 4096
#: Bodies up to this long (in literal bytes) make their 7-bit payload in one piece.
_SMALL_BODY = 2048
_CACHE_BYTES = 4 * 1024 * 1024
#: How many sets of value lengths a template remembers as checked (:meth:`BodyTemplate._layout`).
_LENGTHS_SEEN = 1024


def _base64_lines(data: bytes) -> bytes:
    """``data`` in base64, each 76-character line (57 bytes of data) and the last ended by CRLF."""
    if not data:
        return b""
    encoded = binascii.b2a_base64(data, newline=False)
    size = len(encoded)
    if size <= 76:
        return encoded + b"\r\n"
    split = _LINE_SPLITS.get(size)
    if split is None:  # the lines and an empty piece after the last, so one join ends it too
        if len(_LINE_SPLITS) >= _LINE_SPLITS_KEPT:
            _LINE_SPLITS.clear()
        split = _LINE_SPLITS[size] = struct.Struct("76s" * ((size - 1) // 76) + f"{(size - 1) % 76 + 1}s0s")
    return b"\r\n".join(split.unpack(encoded))


#: Structs that cut base64 of a given length into its lines, by length (one C call, where a
#: Python loop over the lines cost more than encoding them).
_LINE_SPLITS: dict[int, struct.Struct] = {}
_LINE_SPLITS_KEPT = 4096


def encode_body(content: str, cte: str) -> bytes:
    """A text part's payload as the stdlib generator writes it (see ``Renderer._text_part``)."""
    if cte == "base64":  # base64.encodebytes' 76-column lines, without its Python loop
        return _base64_lines(content.encode("utf-8")) or b"\r\n"
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


def _picker(slots: list[int]) -> Callable[[list[bytes]], Sequence[bytes]]:
    """A function giving the items of a list at ``slots``, in order (one C call)."""
    if len(slots) > 1:
        return itemgetter(*slots)
    return (lambda items: (items[slots[0]],)) if slots else (lambda items: ())


_NO_GROUPS = struct.Struct("<")


class _RunLines:
    """The base64 lines of a run's whole lines after its first ``head`` bytes, for every recipient
    whose run differs only inside ``spans`` (``(start, stop, slot)``: where each value's bytes
    are): encoded once, and per recipient only the 4-character groups that cover a value's
    bytes are encoded again and put between the unchanged stretches.

    When every value lies inside the lines (:attr:`ends` is known), each stretch of groups that
    covers values (a *unit*) starts a new line when it would not fit in the one being filled
    (RFC 2045 allows lines of up to 76 characters, not exactly 76), so no value's characters are
    cut by a line end unless its unit is longer than a line. Units that hold the same literal bytes
    around the same values (a token in each tracked link) are then the same characters: each is
    encoded once per recipient, cut by one struct, and put in every place it goes without a copy.
    Decoded, the lines are the run's bytes, as the slow path's are. Otherwise (a value reaches
    outside the lines) the groups are cut out of the recipient's run, in the slow path's lines."""

    __slots__ = ("end", "size", "stretches", "split", "ends", "constants", "pick_values", "pick", "frame",
                 "one_slot", "place", "unit_format")

    def __init__(self, run: bytes, head: int, spans: list[tuple[int, int, int]]) -> None:
        self.end = end = head + (len(run) - head) // _LINE_BYTES * _LINE_BYTES
        spans = [span for span in spans if span[1] > span[0]]
        inside = all(head <= start and stop <= end for start, stop, _ in spans)
        #: The bytes before and after the lines when no value reaches into them, else ``None``.
        self.ends = (run[:head], run[end:]) if inside else None
        self.constants: list[bytes] = []
        self.unit_format = b""
        self.pick_values = self.place = _picker([])
        self.one_slot: int | None = None
        #: Picks the groups' bytes out of a recipient's whole run (only when :attr:`ends` is None).
        self.pick = _NO_GROUPS
        if inside:
            self._plan_units(run, head, end, spans)
        else:
            self._plan_groups(run, head, end, spans)
        #: The stretches with a place left between each two for a recipient's pieces.
        self.frame: list[bytes] = [b""] * (2 * len(self.stretches) - 1)
        self.frame[0::2] = self.stretches
        self.size = sum(map(len, self.stretches))

    def _plan_groups(self, run: bytes, head: int, end: int, spans: list[tuple[int, int, int]]) -> None:
        """The slow path's lines, with the groups covering values cut out per line, and the structs
        that pick the groups' bytes out of a recipient's whole run and split their base64."""
        encoded = _base64_lines(run[head:end])
        groups: list[list[int]] = []  # [first, last + 1) 3-byte groups of run[head:end], within a line
        for start, stop, _ in spans:
            start, stop = max(start, head) - head, min(stop, end) - head
            for line in range(start // _LINE_BYTES, -(-stop // _LINE_BYTES) if stop > start else 0):
                low = max(start, line * _LINE_BYTES) // 3
                high = -(-min(stop, (line + 1) * _LINE_BYTES) // 3)
                if groups and groups[-1][1] >= low and groups[-1][0] * 3 // _LINE_BYTES == line:
                    groups[-1][1] = max(groups[-1][1], high)
                else:
                    groups.append([low, high])
        self.stretches: list[bytes] = []
        split, pick, taken, written = ["<"], ["<"], 0, 0
        for low, high in groups:
            at = low * 4 + 2 * (low * 3 // _LINE_BYTES)  # the characters before, with each line's CRLF
            self.stretches.append(encoded[written:at])
            written = at + (high - low) * 4
            split.append(f"{(high - low) * 4}s")
            pick.append(f"{head + low * 3 - taken}x{(high - low) * 3}s")
            taken = head + high * 3
        self.stretches.append(encoded[written:])
        self.split = struct.Struct("".join(split))
        self.pick = struct.Struct("".join(pick))

    def _plan_units(self, run: bytes, head: int, end: int, spans: list[tuple[int, int, int]]) -> None:
        """The distinct units' bytes as literal bytes (``constants``) between whole values, the
        struct that cuts their base64 into pieces (a unit, or a line's worth of a long one), which
        piece goes in each place, and the lines around the places."""
        units: list[list[int]] = []  # [first, last + 1) 3-byte groups of run[head:end] covering values
        for start, stop, _ in spans:
            low, high = (start - head) // 3, -(-(stop - head) // 3)
            if units and units[-1][1] >= low:
                units[-1][1] = max(units[-1][1], high)
            else:
                units.append([low, high])
        distinct: dict[tuple[tuple[bytes, ...], tuple[int, ...]], int] = {}  # unit's recipe -> first piece
        constants: list[bytes] = [b""]
        slots: list[int] = []
        cuts: list[str] = []
        values = iter(spans)
        value = next(values, None)
        first_pieces: list[int] = []
        for low, high in units:
            at, stop = head + low * 3, head + high * 3
            pieces, unit_slots = [], []
            while value is not None and value[0] < stop:
                pieces.append(run[at:value[0]])
                unit_slots.append(value[2])
                at = value[1]
                value = next(values, None)
            pieces.append(run[at:stop])
            key = (tuple(pieces), tuple(unit_slots))
            if key not in distinct:
                distinct[key] = len(cuts)
                constants[-1] += pieces[0]
                constants.extend(pieces[1:])
                slots.extend(unit_slots)
                length = (high - low) * 4
                cuts.extend(f"{min(_LINE_CHARS, length - cut)}s" for cut in range(0, length, _LINE_CHARS))
            first_pieces.append(distinct[key])
        self.constants = constants
        #: The distinct units' bytes as one %-format of their values (one C call per recipient).
        self.unit_format = b"%b".join(constant.replace(b"%", b"%%") for constant in constants)
        self.pick_values = _picker(slots)
        self.one_slot = slots[0] if slots and len(set(slots)) == 1 else None
        self.split = struct.Struct("<" + "".join(cuts))
        encoded = binascii.b2a_base64(run[head:end], newline=False)
        stretches: list[bytes] = []
        place: list[int] = []
        line: list[bytes] = []  # the current stretch's pieces
        column = written = 0

        def literal(stop: int) -> None:  # the run's characters up to ``stop``, a line end at 76
            nonlocal column, written
            while written < stop:
                take = min(stop - written, _LINE_CHARS - column)
                line.append(encoded[written:written + take])
                written += take
                column += take
                if column == _LINE_CHARS:
                    line.append(b"\r\n")
                    column = 0

        for (low, high), first in zip(units, first_pieces):
            literal(low * 4)
            length = (high - low) * 4
            if column and column + length > _LINE_CHARS:  # it would not fit: this line ends early
                line.append(b"\r\n")
                column = 0
            for index, cut in enumerate(range(0, length, _LINE_CHARS)):
                stretches.append(b"".join(line))
                line.clear()
                place.append(first + index)
                column += min(_LINE_CHARS, length - cut)
                if column == _LINE_CHARS:
                    line.append(b"\r\n")
                    column = 0
            written = high * 4
        literal(len(encoded))
        if column:
            line.append(b"\r\n")
        stretches.append(b"".join(line))
        self.stretches = stretches
        self.place = _picker(place)

    def fill(self, lines: list[bytes], encoded: list[bytes], run: bytes | None = None) -> None:
        """Add the lines for a recipient to ``lines``: from its values (``encoded``, by slot)
        when :attr:`ends` is known, else from its whole ``run``."""
        if len(self.stretches) == 1:
            lines.append(self.stretches[0])
            return
        start = len(lines) + 1
        lines.extend(self.frame)
        if run is not None:
            lines[start::2] = self.split.unpack(binascii.b2a_base64(b"".join(self.pick.unpack_from(run)), newline=False))
            return
        if self.one_slot is not None:
            source = encoded[self.one_slot].join(self.constants)
        else:
            source = self.unit_format % self.pick_values(encoded)
        lines[start::2] = self.place(self.split.unpack(binascii.b2a_base64(source, newline=False)))


class _Layout:
    """Each value's length in UTF-8 while it has had one for every recipient (``steady``, ``-1``
    once it changed), the runs of the body between the values that changed (``(first literal,
    last literal, length in bytes)``, the others inside), the lengths of values checked to fit
    it, and the base64 lines cached for its runs."""

    __slots__ = ("steady", "runs", "seen", "base64_lines", "cached_bytes")

    def __init__(self, steady: tuple[int, ...], slots: list[int], literals: list[bytes]) -> None:
        self.steady = steady
        breaks = [index + 1 for index, slot in enumerate(slots) if steady[slot] < 0]
        self.runs = [(first, last, sum(map(len, literals[first:last + 1]))
                      + sum(steady[slot] for slot in slots[first:last]))
                     for first, last in zip([0, *breaks], [index - 1 for index in breaks] + [len(slots)])]
        self.seen: set[tuple[int, ...]] = set()
        self.base64_lines: dict[tuple[int, int, int], _RunLines] = {}
        self.cached_bytes = 0


class BodyTemplate:
    """One text body of a batch (``None`` when the message has no such part)."""

    __slots__ = ("text", "keys", "recipient_pattern", "names", "plain", "literals_ascii", "fast", "line_groups",
                 "crlf_literals", "ends_in_newline", "key_names", "run_formats", "small_format",
                 "pick_tuple", "slots", "utf8_literals", "layout", "pick_values", "fits",
                 "any_literal")

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
        #: The recipient keys in slot order when every slot is one (no built-in variable).
        self.key_names = [name for _, name in names] if all(kind == "r" for kind, _ in names) else None
        self.plain = _pattern(literals, slots)
        self.literals_ascii = all(literal.isascii() for literal in literals)
        #: The payload's pieces, made once: the slot of each value between the literals, the
        #: literals line-end-converted for a 7-bit payload and in UTF-8 for a base64 one.
        self.slots = slots
        self.pick_values = _picker(slots)
        self.crlf_literals = [_NEWLINES.sub("\r\n", literal).encode("ascii") for literal in literals
                              ] if self.literals_ascii else []
        #: Whether the last literal ends the 7-bit payload with a line break whatever the values.
        self.ends_in_newline = bool(self.crlf_literals) and self.crlf_literals[-1].endswith(b"\n")
        #: A short body's 7-bit payload as one ``%``-format (one C call, one piece), when its
        #: last literal decides how it ends.
        self.small_format: str | None = None
        self.pick_tuple = _picker(slots)
        if self.crlf_literals and self.crlf_literals[-1] and sum(map(len, self.crlf_literals)) <= _SMALL_BODY:
            self.small_format = "%s".join(literal.decode("ascii").replace("%", "%%") for literal in self.crlf_literals
                                          ) + ("" if self.ends_in_newline else "\r\n")
        try:
            self.utf8_literals = [literal.encode("utf-8") for literal in literals]
        except UnicodeEncodeError:  # a lone surrogate: the slow path raises as it always did
            self.utf8_literals = []
        #: Which values have kept their length so far, and the base64 lines cached for its runs
        #: (:meth:`_layout`): a new one replaces it when a value changes length, so a render in
        #: another thread keeps the one it checked its values against.
        self.layout: _Layout | None = None
        #: ``%``-formats of the runs encoded whole per recipient, by ``(first, last)`` literal.
        self.run_formats: dict[tuple[int, int], tuple[bytes, Callable[[list[bytes]], Sequence[bytes]]]] = {}
        self.any_literal = any(self.utf8_literals)
        #: Whether the lines fit a 7-bit body, by the values' lengths.
        self.fits: dict[tuple[int, ...], bool] = {}
        # Built-in variables are read after the recipient's values are in: one that a value could
        # complete, or a CR a value could join to a later LF, makes every recipient go slow.
        self.fast = (bool(self.utf8_literals) and not _SPANNING.search(RECIPIENT_VAR.sub("\x00", self.text or ""))
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
        found = self.pieces(substitute)
        return None if found is None else (found[0], b"".join(found[1]))

    def pieces(self, substitute: Substituter) -> tuple[str, list[bytes]] | None:
        """Like calling the template, with the payload in the pieces it is joined from: long
        ones are the same objects for every recipient (a delivery may cache work on them)."""
        if not self.fast:
            return self._slow_pieces(substitute)
        values, joined = self._quick_values(substitute)
        if values is None:
            return self._slow_pieces(substitute)
        if self.literals_ascii and joined.isascii():
            if not joined.isprintable() and _ASCII_BREAKS.search(joined):  # printable: no break
                return self._slow_pieces(substitute)
            if self._fits_7bit(tuple(map(len, values))):
                return "7bit", self._crlf_payload(values)
        payload = self._base64_payload(values)
        return ("base64", payload) if payload is not None else self._slow_pieces(substitute)

    def _fits_7bit(self, lengths: tuple[int, ...]) -> bool:
        """Whether no line is longer than a 7-bit body allows with values of these lengths."""
        fits = self.fits.get(lengths)
        if fits is None:
            fits = max(literal + sum(lengths[slot] * times for slot, times in slots)
                       for slots, literal in self.line_groups) <= MAX_7BIT_LINE
            if len(self.fits) >= _LENGTHS_SEEN:
                self.fits.clear()
            self.fits[lengths] = fits
        return fits

    def _slow_pieces(self, substitute: Substituter) -> tuple[str, list[bytes]] | None:
        found = self.slow(substitute)
        return None if found is None else (found[0], [found[1]])

    def _crlf_payload(self, values: list[str]) -> list[bytes]:
        """The 7-bit payload: the converted literals with the (7-bit, break-free) values between
        them, instead of formatting and encoding the whole body."""
        if self.small_format is not None:
            return [(self.small_format % self.pick_tuple(values)).encode("ascii")]
        literals = self.crlf_literals
        pieces: list[bytes] = [b""] * (2 * len(literals) - 1)
        pieces[0::2] = literals
        pieces[1::2] = self.pick_values(list(map(str.encode, values)))  # ASCII: UTF-8 is the same
        if not (self.ends_in_newline or (not literals[-1] and
                                         next((piece for piece in reversed(pieces) if piece), b"").endswith(b"\n"))):
            pieces.append(b"\r\n")  # the stdlib ends a payload with a line break
        return pieces

    def _base64_payload(self, values: list[str]) -> list[bytes] | None:
        """The base64 payload (what :func:`encode_body` writes for the substituted body) from the
        UTF-8 pieces: the whole lines inside a long run of the body are encoded once per offset at
        which the run can start in a line, and only the lines around the values per recipient.
        ``None`` when a value cannot be UTF-8 (a lone surrogate: the slow path raises)."""
        try:
            encoded = list(map(str.encode, values))  # UTF-8
        except UnicodeEncodeError:
            return None
        layout = self._layout(encoded)
        lines: list[bytes] = []
        pending = b""  # the bytes of the line being filled, fewer than a line's after each step
        slots, literals = self.slots, self.utf8_literals
        for first, last, length in layout.runs:
            if first:
                pending += encoded[slots[first - 1]]
            head = -len(pending) % _LINE_BYTES  # bytes that complete the line being filled
            if length < max(_CACHED_LITERAL, head + _LINE_BYTES):
                pending += self._run(first, last, encoded)
                continue
            found = layout.base64_lines.get((first, last, head))
            run = None if found is not None and found.ends is not None else self._run(first, last, encoded)
            if found is None:
                found = self._run_lines(layout, first, last, run, head)  # type: ignore[arg-type]
            if found is None:  # the cache is full: this recipient's lines, encoded whole
                end = head + (length - head) // _LINE_BYTES * _LINE_BYTES
                lines.append(_base64_lines(pending + run[:head]))  # type: ignore[index]
                lines.append(_base64_lines(run[head:end]))  # type: ignore[index]
                pending = run[end:]  # type: ignore[index]
            else:
                before, after = found.ends or (run[:head], run[found.end:])  # type: ignore[index]
                lines.append(_base64_lines(pending + before))  # no line or one whole line
                found.fill(lines, encoded, None if found.ends else run)
                pending = after
            if len(pending) >= _LINE_BYTES:
                whole = len(pending) - len(pending) % _LINE_BYTES
                lines.append(_base64_lines(pending[:whole]))
                pending = pending[whole:]
        lines.append(_base64_lines(pending))
        return lines if self.any_literal or any(lines) else [b"\r\n"]

    def _layout(self, encoded: list[bytes]) -> _Layout:
        """The layout for a recipient's values: the current one when the values that have kept
        their length so far keep it again, else a new one in which those that did not are cut out."""
        lengths = tuple(map(len, encoded))
        layout = self.layout
        if layout is not None:
            if lengths in layout.seen:
                return layout
            if all(steady < 0 or steady == length for steady, length in zip(layout.steady, lengths)):
                if len(layout.seen) >= _LENGTHS_SEEN:
                    layout.seen.clear()
                layout.seen.add(lengths)
                return layout
        steady = lengths if layout is None else tuple(
            steady if steady == length else -1 for steady, length in zip(layout.steady, lengths))
        layout = self.layout = _Layout(steady, self.slots, self.utf8_literals)
        layout.seen.add(lengths)
        return layout

    def _run(self, first: int, last: int, encoded: list[bytes]) -> bytes:
        """A recipient's bytes of a run: its literals with the values between them."""
        if first == last:
            return self.utf8_literals[first]
        found = self.run_formats.get((first, last))
        if found is None:  # a bytes %-format of the run: one C call per recipient
            if len(self.run_formats) >= _LENGTHS_SEEN:
                self.run_formats.clear()
            pattern = b"%b".join(literal.replace(b"%", b"%%") for literal in self.utf8_literals[first:last + 1])
            found = self.run_formats[(first, last)] = (pattern, _picker(self.slots[first:last]))
        return found[0] % found[1](encoded)

    def _run_lines(self, layout: _Layout, first: int, last: int, run: bytes, head: int) -> _RunLines | None:
        """The base64 lines of a run's whole lines after its first ``head`` bytes, kept in the
        layout by run and offset; ``None`` when its cache has no room for them."""
        if layout.cached_bytes + (len(run) - head) // _LINE_BYTES * (_LINE_BYTES * 4 // 3 + 2) > _CACHE_BYTES:
            return None
        spans, at = [], len(self.utf8_literals[first])
        for index in range(first, last):
            slot = self.slots[index]
            spans.append((at, at + layout.steady[slot], slot))
            at += layout.steady[slot] + len(self.utf8_literals[index + 1])
        found = layout.base64_lines[(first, last, head)] = _RunLines(run, head, spans)
        layout.cached_bytes += found.size
        return found

    def _quick_values(self, substitute: Substituter) -> tuple[list[str] | None, str]:
        """:meth:`_values` and the values joined, in a few C calls when every slot is a recipient
        key whose value is a string without ``%`` (the common case)."""
        if self.key_names is not None:
            try:
                values = list(map(substitute.variables.__getitem__, self.key_names))
                joined = "".join(values)
            except (KeyError, TypeError):  # a missing key, or a value to convert: the full check
                pass
            else:
                return (None, "") if "%" in joined else (values, joined)
        found = self._values(substitute)
        return found, "" if found is None else "".join(found)

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

