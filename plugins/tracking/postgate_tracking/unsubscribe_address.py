"""Signed unsubscribe mail addresses: ``u-<token>@<unsubscribe_mail_domain>``.

The local part carries the same 33 signed bytes as an unsubscribe link's token (ids, render time,
scope, MAC under the unsubscribe label), in lower-case base32 without padding: 53 characters, 55
with the ``u-`` prefix, under the 64 an address allows, and unharmed by servers that change the
case of local parts. The key id is not written: the address is checked under each listed key in
turn (rotation keeps working, and a handful of keys cost a handful of MACs).
"""

from __future__ import annotations

import base64
import binascii

from .tokens import TOKEN_BYTES, Signer
from .unsubscribe import UnsubscribeClaim, claim_of, signed_bytes

PREFIX = "u-"
#: Characters of the encoded token, and of the whole local part.
ENCODED_CHARS = -(-TOKEN_BYTES * 8 // 5)
LOCAL_PART_CHARS = len(PREFIX) + ENCODED_CHARS
_PADDING = "=" * (-ENCODED_CHARS % 8)


def encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def local_part(signer: Signer, batch_id: int, recipient_id: int, scope: int, rendered_at: float = 0) -> str:
    """A recipient's unsubscribe local part for ``scope``, under the signing key."""
    return PREFIX + encode(signed_bytes(signer.key_id, signer.secret, batch_id, recipient_id, scope, rendered_at))


def decode_local_part(local: str) -> bytes | None:
    """The 33 bytes a well-formed local part carries (any case), or ``None``."""
    if len(local) != LOCAL_PART_CHARS or not local.isascii() or local[:len(PREFIX)].lower() != PREFIX:
        return None
    encoded = local[len(PREFIX):].lower()
    try:
        raw = base64.b32decode(encoded.upper() + _PADDING)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != TOKEN_BYTES or encode(raw) != encoded:  # one spelling per token (up to case)
        return None
    return raw


def verify_local_part(signer: Signer, local: str) -> UnsubscribeClaim | None:
    """The claim of a genuine unsubscribe local part under any listed key, or ``None``."""
    raw = decode_local_part(local)
    if raw is None:
        return None
    for key_id, secret in signer.keys.items():
        claim = claim_of(key_id, secret, raw)
        if claim is not None:
            return claim
    return None
