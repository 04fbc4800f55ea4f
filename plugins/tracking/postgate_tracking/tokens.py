"""Signed, opaque, URL-safe tracking tokens.

A token is ``<key id>.<base64url(batch id, ledger row id, link index, MAC)>``: the MAC is the
first 15 bytes of HMAC-SHA256 over the kind (``o`` or ``c``), the key id and the packed ids, so a
key can be rotated (old ids keep verifying while listed) and no token names an address or URL.
:meth:`Signer.verify` checks the MAC in constant time and needs no database.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
from dataclasses import dataclass
from hashlib import sha256

_IDS = struct.Struct(">QQH")
_MAC_BYTES = 15
_TOKEN_BYTES = _IDS.size + _MAC_BYTES
#: Longest token accepted (a 16-character key id, a dot and the encoded body).
MAX_TOKEN = 17 + len(base64.urlsafe_b64encode(bytes(_TOKEN_BYTES)))  # 33 bytes: 44 characters, no padding


@dataclass(frozen=True, slots=True)
class TokenClaim:
    """What a verified token says."""

    kind: str  # "o" (open) or "c" (click)
    batch_id: int
    recipient_id: int
    link: int  # the link index for clicks, 0 for opens


class Signer:
    """Signs with the first key and verifies with any listed one."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("no signing key")
        self.key_id, self.secret = keys[0]
        self.keys = dict(keys)
        self._prefix = self.key_id + "."

    def _mac(self, kind: str, key_id: str, secret: bytes, body: bytes) -> bytes:
        return hmac.digest(secret, kind.encode() + key_id.encode() + b"." + body, sha256)[:_MAC_BYTES]

    def sign(self, kind: str, batch_id: int, recipient_id: int, link: int = 0) -> str:
        body = _IDS.pack(batch_id, recipient_id, link)
        mac = self._mac(kind, self.key_id, self.secret, body)
        return self._prefix + base64.urlsafe_b64encode(body + mac).decode("ascii")

    def verify(self, kind: str, token: str) -> TokenClaim | None:
        """The claim of a genuine token of ``kind``, or ``None`` (tampered, unknown key, malformed)."""
        if len(token) > MAX_TOKEN:
            return None
        key_id, dot, encoded = token.partition(".")
        secret = self.keys.get(key_id)
        if not dot or secret is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(encoded.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None
        if len(raw) != _TOKEN_BYTES or base64.urlsafe_b64encode(raw).decode("ascii") != encoded:
            return None
        body, mac = raw[:_IDS.size], raw[_IDS.size:]
        if not hmac.compare_digest(mac, self._mac(kind, key_id, secret, body)):
            return None
        batch_id, recipient_id, link = _IDS.unpack(body)
        return TokenClaim(kind, batch_id, recipient_id, link)
