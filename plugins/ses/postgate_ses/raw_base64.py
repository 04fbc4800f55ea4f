"""The base64 of a rendered message for ``Content.Raw.Data``, with the long pieces' encoded once.

``SendEmail`` carries each recipient's ~75 KB message in base64, and most of it (the body's long
literal text, the MIME structure) is the same bytes for every recipient of a batch, only at
other offsets. :attr:`~postgate.RenderedMessage.parts` names the pieces ``raw`` was joined from,
the long ones shared by the batch's recipients; base64 works on groups of 3 bytes, so a piece's
whole groups encode the same way whenever it starts at the same offset modulo 3.
:class:`Base64Parts` keeps those encodings per piece and offset, and per message encodes only
the bytes between long pieces. The result is ``base64.b64encode(raw)``, byte for byte.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence

#: Pieces at least this long get their encodings kept.
LONG_PIECE = 2048


class Base64Parts:
    """Base64 of messages joined from pieces, keeping the long pieces' encodings (at most
    ``limit`` bytes of them; all are dropped when full, as a new batch's pieces come in)."""

    def __init__(self, limit: int = 8 * 1024 * 1024) -> None:
        self.limit = limit
        self.size = 0
        self._kept: dict[int, tuple[bytes, dict[int, tuple[bytes, int]]]] = {}

    def encode(self, raw: bytes, parts: Sequence[bytes]) -> bytes:
        """``base64.b64encode(raw)``; from ``parts`` when they join to ``raw``."""
        if not parts or b"".join(parts) != raw:
            return binascii.b2a_base64(raw, newline=False)
        out: list[bytes] = []
        run: list[bytes] = []  # short pieces (and a long one's ends) not encoded yet
        run_length = 0
        for part in parts:
            head = -run_length % 3  # bytes that complete the run's last group
            if len(part) < max(LONG_PIECE, head + 3):
                run.append(part)
                run_length += len(part)
                continue
            run.append(part[:head])
            out.append(binascii.b2a_base64(b"".join(run), newline=False))  # whole groups only
            middle, end = self._middle(part, head)
            out.append(middle)
            run, run_length = [part[end:]], len(part) - end
        out.append(binascii.b2a_base64(b"".join(run), newline=False))
        return b"".join(out)

    def _middle(self, part: bytes, head: int) -> tuple[bytes, int]:
        """The base64 of ``part``'s whole groups after its first ``head`` bytes, and where the
        bytes left over start."""
        kept = self._kept.get(id(part))
        if kept is None or kept[0] is not part:  # kept pieces stay alive: their ids are theirs
            kept = self._kept[id(part)] = (part, {})
        found = kept[1].get(head)
        if found is None:
            end = head + (len(part) - head) // 3 * 3
            found = (binascii.b2a_base64(part[head:end], newline=False), end)
            if self.size + len(found[0]) > self.limit:
                self._kept.clear()
                self.size = 0
                kept = self._kept[id(part)] = (part, {})
            kept[1][head] = found
            self.size += len(found[0])
        return found
