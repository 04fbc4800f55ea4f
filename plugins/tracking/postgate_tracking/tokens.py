"""Signed, opaque, URL-safe tracking tokens.

A token is ``<key id>.<base64url(batch id, ledger row id, rendered at, MAC, link)>``: 44
characters after the key id, no padding. The ids take 6 bytes each, the render time (epoch
seconds, which the machine rules compare a click with) 4; the MAC is the first 14 bytes of
HMAC-SHA256 over the key id and those 16 bytes, so a key can be rotated (old ids keep verifying while listed) and no token names an address or a
URL. ``link`` (3 bytes) is the link index of a click token, or ``OPEN`` for the pixel. It sits
beside the MAC rather than under it: a recipient's message already holds a genuine token for every
link of its batch, so changing it forges nothing, and it only ever selects one of the batch's own
stored links (no open redirect). One MAC per recipient, and the link part encoded once per
batch, keep marking cheap. :meth:`Signer.verify` checks the MAC in constant time and needs no
database. :func:`decode` reads the shape every token kind shares (the unsubscribe tokens too).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_IDS = struct.Struct(">HIHII")  # batch id and row id as 48 bits each (high 16, low 32), then the time
_MAC_BYTES = 14
_HEAD_BYTES = _IDS.size + _MAC_BYTES  # 30 bytes: 40 characters
_HEAD_CHARS = _HEAD_BYTES * 4 // 3
_ID_MASK = (1 << 48) - 1
_LINK_BYTES = 3  # 4 characters
#: Raw bytes and encoded characters (after the key id) of every token kind.
TOKEN_BYTES = _HEAD_BYTES + _LINK_BYTES
TOKEN_CHARS = TOKEN_BYTES * 4 // 3
#: The link part of an open (pixel) token; link indexes stay below it.
OPEN = (1 << 24) - 1
MAX_LINKS = OPEN
#: Longest token accepted (a 16-character key id, a dot and the encoded body).
MAX_TOKEN = 17 + TOKEN_CHARS
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_STANDARD = bytes.maketrans(b"-_", b"+/")


def urlsafe(data: bytes) -> str:
    """URL-safe base64 of a multiple of 3 bytes (no padding), without base64's Python layers."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).decode("ascii")


def link_part(link: int) -> str:
    """The last 4 characters of a token: the link index (or ``OPEN``), the same for every recipient."""
    return urlsafe(link.to_bytes(_LINK_BYTES, "big"))


OPEN_PART = link_part(OPEN)


def pack_ids(batch_id: int, recipient_id: int, rendered_at: float) -> bytes:
    """The 16 bytes every token kind starts with: batch id, ledger row id, render time."""
    return _IDS.pack(batch_id >> 32, batch_id & 0xFFFFFFFF, recipient_id >> 32, recipient_id & 0xFFFFFFFF,
                     int(rendered_at) & 0xFFFFFFFF)


def unpack_ids(ids: bytes) -> tuple[int, int, int]:
    """``(batch id, ledger row id, render time)`` of :func:`pack_ids`'s bytes."""
    batch_high, batch_low, row_high, row_low, rendered_at = _IDS.unpack(ids)
    return batch_high << 32 | batch_low, row_high << 32 | row_low, rendered_at


def decode(keys: Mapping[str, bytes], token: str) -> tuple[str, bytes, bytes] | None:
    """The key id, its secret and the 33 raw bytes of a well-formed token under a listed key, or
    ``None``. Every token kind shares this shape; the caller checks the MAC of its own kind."""
    if len(token) > MAX_TOKEN:
        return None
    key_id, dot, encoded = token.partition(".")
    secret = keys.get(key_id)
    if not dot or secret is None or len(encoded) != TOKEN_CHARS or not encoded.isascii():
        return None
    try:
        raw = binascii.a2b_base64(encoded.encode("ascii").translate(_STANDARD), strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != TOKEN_BYTES or urlsafe(raw) != encoded:  # one spelling per token
        return None
    return key_id, secret, raw


@dataclass(frozen=True, slots=True)
class TokenClaim:
    """What a verified token says."""

    kind: str  # "o" (open) or "c" (click)
    batch_id: int
    recipient_id: int
    link: int  # the link index for clicks, 0 for opens
    rendered_at: int = 0  # epoch seconds the recipient's message was rendered (just before sending)


def _hmac_states(secret: bytes, label: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 (RFC 2104) under ``secret`` as two SHA-256 states, the inner one having read
    ``label``: copying them costs less than ``hmac.digest`` setting up the key for every token."""
    key = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    inner.update(label)
    return inner, hashlib.sha256(bytes(byte ^ 0x5C for byte in key))


class Signer:
    """Signs with the first key and verifies with any listed one."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("no signing key")
        self.key_id, self.secret = keys[0]
        self.keys = dict(keys)
        self._prefix = self.key_id + "."
        self._label = self._prefix.encode()
        self._inner, self._outer = _hmac_states(self.secret, self._label)

    def head(self, batch_id: int, recipient_id: int, rendered_at: float) -> str:
        """The part of a recipient's tokens before the link part (one MAC)."""
        return self.heads(batch_id, [recipient_id], rendered_at)[0]

    def heads(self, batch_id: int, recipient_ids: Sequence[int], rendered_at: float) -> list[str]:
        """:meth:`head` for each of a batch's rows rendered together, in one pass: the MACs in one
        loop, and every head's bytes encoded in one call (30 bytes are 40 characters, so they
        split evenly)."""
        # pack_ids as one 128-bit number: batch id (48 bits), row id (48 bits), render time (32 bits)
        fixed = (batch_id & _ID_MASK) << 80 | int(rendered_at) & 0xFFFFFFFF
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        raw: list[bytes] = []
        for recipient_id in recipient_ids:
            ids = (fixed | (recipient_id & _ID_MASK) << 32).to_bytes(16, "big")
            inner = inner_copy()
            inner.update(ids)
            outer = outer_copy()
            outer.update(inner.digest())
            raw.append(ids)
            raw.append(outer.digest()[:_MAC_BYTES])
        encoded, prefix = urlsafe(b"".join(raw)), self._prefix
        return [prefix + encoded[start:start + _HEAD_CHARS] for start in range(0, len(encoded), _HEAD_CHARS)]

    def sign(self, kind: str, batch_id: int, recipient_id: int, link: int = 0, rendered_at: float = 0) -> str:
        return self.head(batch_id, recipient_id, rendered_at) + (OPEN_PART if kind == "o" else link_part(link))

    def verify(self, kind: str, token: str) -> TokenClaim | None:
        """The claim of a genuine token of ``kind``, or ``None`` (tampered, unknown key, malformed)."""
        found = decode(self.keys, token)
        if found is None:
            return None
        key_id, secret, raw = found
        ids, mac = raw[:_IDS.size], raw[_IDS.size:_HEAD_BYTES]
        expected = hmac.digest(secret, f"{key_id}.".encode() + ids, "sha256")[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            return None
        link = int.from_bytes(raw[_HEAD_BYTES:], "big")
        if (kind == "o") != (link == OPEN):
            return None
        batch_id, recipient_id, rendered_at = unpack_ids(ids)
        return TokenClaim(kind, batch_id, recipient_id, 0 if kind == "o" else link, rendered_at)
