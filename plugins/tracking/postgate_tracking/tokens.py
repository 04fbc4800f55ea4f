"""Signed, opaque, URL-safe tracking tokens.

A token is ``<key id>.<base64url(batch id, ledger row id, MAC, link index)>`` (44 characters after
the key id, no padding). The MAC is the first 15 bytes of HMAC-SHA256 over the kind (``o`` or
``c``), the key id and the two ids, so a key can be rotated (old ids keep verifying while listed)
and no token names an address or a URL. The link index sits beside the MAC rather than under it:
a recipient's message already holds a genuine token for every link index of its batch, so
changing the index forges nothing, and one MAC per recipient (not one per link) keeps marking
cheap. The index only ever selects one of the batch's own stored links, so there is no open
redirect. :meth:`Signer.verify` checks the MAC in constant time and needs no database.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
from dataclasses import dataclass

_IDS = struct.Struct(">QQ")
_LINK = struct.Struct(">H")
_MAC_BYTES = 15
_TOKEN_BYTES = _IDS.size + _MAC_BYTES + _LINK.size  # 33 bytes: 44 characters, no padding
#: Longest token accepted (a 16-character key id, a dot and the encoded body).
MAX_TOKEN = 17 + 44
#: Most links one message may have tracked.
MAX_LINKS = 1 << 16


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
        self._labels = {kind: f"{kind}{self.key_id}.".encode() for kind in ("o", "c")}

    @staticmethod
    def _mac(label: bytes, secret: bytes, ids: bytes) -> bytes:
        # The digest named as a string takes OpenSSL's one-shot path.
        return hmac.digest(secret, label + ids, "sha256")[:_MAC_BYTES]

    def sign(self, kind: str, batch_id: int, recipient_id: int, link: int = 0) -> str:
        return self.sign_links(kind, batch_id, recipient_id, (link,))[0]

    def sign_links(self, kind: str, batch_id: int, recipient_id: int, links) -> list[str]:
        """One token per link index, under one MAC."""
        ids = _IDS.pack(batch_id, recipient_id)
        signed = ids + self._mac(self._labels[kind], self.secret, ids)
        encode, pack, prefix = base64.urlsafe_b64encode, _LINK.pack, self._prefix
        return [prefix + encode(signed + pack(link)).decode("ascii") for link in links]

    def verify(self, kind: str, token: str) -> TokenClaim | None:
        """The claim of a genuine token of ``kind``, or ``None`` (tampered, unknown key, malformed)."""
        if len(token) > MAX_TOKEN:
            return None
        key_id, dot, encoded = token.partition(".")
        secret = self.keys.get(key_id)
        if not dot or secret is None or len(encoded) != 44:
            return None
        try:
            raw = base64.urlsafe_b64decode(encoded.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            return None
        if len(raw) != _TOKEN_BYTES or base64.urlsafe_b64encode(raw).decode("ascii") != encoded:
            return None
        ids, mac, link = raw[:_IDS.size], raw[_IDS.size:-_LINK.size], raw[-_LINK.size:]
        if not hmac.compare_digest(mac, self._mac(f"{kind}{key_id}.".encode(), secret, ids)):
            return None
        batch_id, recipient_id = _IDS.unpack(ids)
        (index,) = _LINK.unpack(link)
        if kind == "o" and index:
            return None
        return TokenClaim(kind, batch_id, recipient_id, index)
