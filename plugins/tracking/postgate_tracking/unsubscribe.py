"""Signed unsubscribe tokens, for Mailgun's ``%unsubscribe_url%`` and its kin (``unsubscribe_links``
puts them in messages; ``unsubscribe_address`` writes the same signed bytes as a mail address).

A token is ``<key id>.<base64url(batch id, ledger row id, rendered at, scope, MAC)>`` (44 characters
after the key id): the same layout and keys as the open and click tokens, but its own kind, because its MAC
is taken under a distinct label and covers the scope too. The scope says what the link
unsubscribes from: the whole domain, the mailing list (Postgate has none, so the whole domain as
well) or the message's tags, as a bit mask of their indexes in the batch's tag list (a tag link
carries the indexes, never the tag names, which are read from the stored batch).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from .tokens import Signer, decode, pack_ids, unpack_ids, urlsafe

#: Scopes: the whole domain, the mailing list; smaller values are tag masks.
DOMAIN = (1 << 24) - 1
MAILING_LIST = DOMAIN - 1
#: Tags a tag link can name (bits of the mask); later tags of a batch are left out.
MAX_TAGS = 20
_IDS_BYTES = 16
_SCOPE_BYTES = 3
_MAC_BYTES = 14  # with the ids and the scope, the 33 bytes of every token kind (tokens.TOKEN_BYTES)
_LABEL = b"postgate-unsubscribe:"
ONE_CLICK = "List-Unsubscribe=One-Click"


@dataclass(frozen=True, slots=True)
class UnsubscribeClaim:
    """What a verified unsubscribe token says."""

    batch_id: int
    recipient_id: int
    scope: int

    def tags(self, batch_tags: list[str]) -> list[str]:
        """The tags this link unsubscribes from; empty means every tag (``*``)."""
        if self.scope >= MAILING_LIST:
            return []
        return [tag for index, tag in enumerate(batch_tags[:MAX_TAGS]) if self.scope >> index & 1]


def _mac(secret: bytes, key_id: str, body: bytes) -> bytes:
    return hmac.digest(secret, _LABEL + key_id.encode() + b"." + body, "sha256")[:_MAC_BYTES]


def signed_bytes(key_id: str, secret: bytes, batch_id: int, recipient_id: int, scope: int,
                 rendered_at: float = 0) -> bytes:
    """The 33 signed bytes of an unsubscribe token (ids, render time, scope, MAC)."""
    body = pack_ids(batch_id, recipient_id, rendered_at) + scope.to_bytes(_SCOPE_BYTES, "big")
    return body + _mac(secret, key_id, body)


def claim_of(key_id: str, secret: bytes, raw: bytes) -> UnsubscribeClaim | None:
    """The claim of :func:`signed_bytes`'s bytes under ``key_id``, or ``None``; the MAC is
    compared in constant time."""
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, key_id, body)):
        return None
    batch_id, recipient_id, _rendered = unpack_ids(body[:_IDS_BYTES])
    scope = int.from_bytes(body[_IDS_BYTES:], "big")
    if scope == 0:
        return None
    return UnsubscribeClaim(batch_id, recipient_id, scope)


def sign(signer: Signer, batch_id: int, recipient_id: int, scope: int, rendered_at: float = 0) -> str:
    """A recipient's unsubscribe token for ``scope``, under the signing key."""
    return f"{signer.key_id}." + urlsafe(signed_bytes(signer.key_id, signer.secret, batch_id, recipient_id,
                                                      scope, rendered_at))


def verify(signer: Signer, token: str) -> UnsubscribeClaim | None:
    """The claim of a genuine unsubscribe token, or ``None``."""
    found = decode(signer.keys, token)
    return None if found is None else claim_of(*found)


def tag_scope(tags: list[str]) -> int:
    """The scope of a tag link: every tag of the message, or the domain when it has none."""
    if not tags:
        return DOMAIN
    return (1 << min(len(tags), MAX_TAGS)) - 1
