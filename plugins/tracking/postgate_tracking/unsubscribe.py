"""Signed unsubscribe links for Mailgun's ``%unsubscribe_url%``, ``%tag_unsubscribe_url%`` and
``%mailing_list_unsubscribe_url%``, and the one-click ``List-Unsubscribe-Post`` header.

The built-ins are replaced once per batch by ``<base>/t/u/%recipient.postgate-unsubscribe-…%``
placeholders that the renderer fills per recipient. A token is
``<key id>.<base64url(batch id, ledger row id, rendered at, scope, MAC)>`` (44 characters after the
key id): the same layout and keys as the open and click tokens, but its own kind, because its MAC
is taken under a distinct label and covers the scope too. The scope says what the link
unsubscribes from: the whole domain, the mailing list (Postgate has none, so the whole domain as
well) or the message's tags, as a bit mask of their indexes in the batch's tag list (a tag link
carries the indexes, never the tag names, which are read from the stored batch).

``%unsubscribe_email%`` and ``%tag_unsubscribe_email%`` are left alone: Postgate has no mailbox
yet, and the core drops their ``List-Unsubscribe`` element.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from postgate import Batch, Message, PreparedTemplate, Recipient

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

#: Placeholder keys per built-in, filled per recipient.
KEYS = {
    "unsubscribe_url": "postgate-unsubscribe-domain",
    "tag_unsubscribe_url": "postgate-unsubscribe-tags",
    "mailing_list_unsubscribe_url": "postgate-unsubscribe-list",
}
_BUILTIN = re.compile(r"%(unsubscribe_url|tag_unsubscribe_url|mailing_list_unsubscribe_url)%")
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


def sign(signer: Signer, batch_id: int, recipient_id: int, scope: int, rendered_at: float = 0) -> str:
    """A recipient's unsubscribe token for ``scope``, under the signing key."""
    body = pack_ids(batch_id, recipient_id, rendered_at) + scope.to_bytes(_SCOPE_BYTES, "big")
    return f"{signer.key_id}." + urlsafe(body + _mac(signer.secret, signer.key_id, body))


def verify(signer: Signer, token: str) -> UnsubscribeClaim | None:
    """The claim of a genuine unsubscribe token, or ``None``; the MAC is compared in constant time."""
    found = decode(signer.keys, token)
    if found is None:
        return None
    key_id, secret, raw = found
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, key_id, body)):
        return None
    batch_id, recipient_id, _rendered = unpack_ids(body[:_IDS_BYTES])
    scope = int.from_bytes(body[_IDS_BYTES:], "big")
    if scope == 0:
        return None
    return UnsubscribeClaim(batch_id, recipient_id, scope)


def tag_scope(tags: list[str]) -> int:
    """The scope of a tag link: every tag of the message, or the domain when it has none."""
    if not tags:
        return DOMAIN
    return (1 << min(len(tags), MAX_TAGS)) - 1


def placeholder(base_url: str, builtin: str) -> str:
    return f"{base_url}/t/u/%recipient.{KEYS[builtin]}%"


def _replace(text: str | None, base_url: str, used: set[str]) -> str | None:
    if not text or "%" not in text:
        return text

    def link(match: re.Match[str]) -> str:
        used.add(match.group(1))
        return placeholder(base_url, match.group(1))

    return _BUILTIN.sub(link, text)


def with_unsubscribe_links(message: Message, base_url: str) -> tuple[Message, set[str]]:
    """The message with its unsubscribe built-ins turned into placeholders (bodies and ``h:``
    values), and ``List-Unsubscribe-Post`` added when its ``List-Unsubscribe`` now holds one."""
    used: set[str] = set()
    html = _replace(message.html, base_url, used)
    text = _replace(message.text, base_url, used)
    amp = _replace(message.amp_html, base_url, used)
    headers: list[tuple[str, str]] = []
    one_click = False
    for name, value in message.headers:
        replaced = _replace(value, base_url, used) or ""
        if name.lower() == "list-unsubscribe" and replaced != value:
            one_click = True
        headers.append((name, replaced))
    if one_click and not any(name.lower() == "list-unsubscribe-post" for name, _ in headers):
        headers.append(("List-Unsubscribe-Post", ONE_CLICK))
    if not used:
        return message, used
    return dataclasses.replace(message, html=html, text=text, amp_html=amp, headers=headers), used


def token_filler(signer: Signer, batch: Batch, used: set[str]) -> Callable[[Recipient], dict[str, str]]:
    """Each recipient's unsubscribe tokens, one per built-in the message uses."""
    scopes = {"unsubscribe_url": DOMAIN, "mailing_list_unsubscribe_url": MAILING_LIST,
              "tag_unsubscribe_url": tag_scope(list(batch.tags))}
    wanted = [(KEYS[name], scopes[name]) for name in sorted(used)]

    def fill(recipient: Recipient) -> dict[str, str]:
        now = time.time()
        return {key: sign(signer, batch.id, recipient.id, scope, now) for key, scope in wanted}

    return fill


def add_unsubscribe_links(signer: Signer | None, base_url: str | None, batch: Batch, message: Message,
                          prepared: PreparedTemplate | None) -> PreparedTemplate | None:
    """``prepared`` (or the message) with signed unsubscribe links, when the message uses any."""
    if signer is None or not base_url or message.mime is not None:
        return prepared
    current = prepared.message if prepared is not None else message
    changed, used = with_unsubscribe_links(current, base_url)
    if not used:
        return prepared
    fills = [fill for fill in (prepared.values if prepared else None, token_filler(signer, batch, used)) if fill]

    def values(recipient: Recipient) -> Mapping[str, str]:
        merged: dict[str, str] = {}
        for fill in fills:
            merged.update(fill(recipient))
        return merged

    return PreparedTemplate(changed, values)
