"""Mailgun's unsubscribe built-ins in a batch's message: ``%unsubscribe_url%``,
``%tag_unsubscribe_url%`` and ``%mailing_list_unsubscribe_url%`` as signed links on the tracking
host, ``%unsubscribe_email%`` and ``%tag_unsubscribe_email%`` as signed ``mailto:`` addresses at
``unsubscribe_mail_domain``, and the one-click ``List-Unsubscribe-Post`` header.

The built-ins are replaced once per batch by placeholders (``<base>/t/u/%recipient.postgate-
unsubscribe-…%``, ``mailto:%recipient.postgate-unsubscribe-mail-…%@<domain>``) that the renderer
fills per recipient. A built-in nothing can fill stays literal; in ``List-Unsubscribe`` the core
then drops its element.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Mapping, Sequence

from postgate import Batch, Message, PreparedTemplate, Recipient

from .tokens import Signer
from .unsubscribe import DOMAIN, MAILING_LIST, ONE_CLICK, sign, tag_scope
from .unsubscribe_address import local_part

URL_BUILTINS = ("unsubscribe_url", "tag_unsubscribe_url", "mailing_list_unsubscribe_url")
MAIL_BUILTINS = ("unsubscribe_email", "tag_unsubscribe_email")
#: Placeholder keys per built-in, filled per recipient.
KEYS = {
    "unsubscribe_url": "postgate-unsubscribe-domain",
    "tag_unsubscribe_url": "postgate-unsubscribe-tags",
    "mailing_list_unsubscribe_url": "postgate-unsubscribe-list",
    "unsubscribe_email": "postgate-unsubscribe-mail-domain",
    "tag_unsubscribe_email": "postgate-unsubscribe-mail-tags",
}
_BUILTIN = re.compile(r"%(" + "|".join(URL_BUILTINS + MAIL_BUILTINS) + r")%")


def placeholders(base_url: str | None, mail_domain: str | None) -> dict[str, str]:
    """What each built-in that can be filled becomes in the batch's message."""
    found = {name: f"{base_url}/t/u/%recipient.{KEYS[name]}%" for name in URL_BUILTINS if base_url}
    found.update({name: f"mailto:%recipient.{KEYS[name]}%@{mail_domain}" for name in MAIL_BUILTINS if mail_domain})
    return found


def _replace(text: str | None, replacements: Mapping[str, str], used: set[str]) -> str | None:
    if not text or "%" not in text:
        return text

    def fill(match: re.Match[str]) -> str:
        replacement = replacements.get(match.group(1))
        if replacement is None:
            return match.group(0)
        used.add(match.group(1))
        return replacement

    return _BUILTIN.sub(fill, text)


def with_unsubscribe_links(message: Message, base_url: str | None,
                           mail_domain: str | None = None) -> tuple[Message, set[str]]:
    """The message with its unsubscribe built-ins turned into placeholders (bodies and ``h:``
    values), and ``List-Unsubscribe-Post`` added when its ``List-Unsubscribe`` now holds a link
    (RFC 8058 one-click needs an https link; a ``mailto:`` alone does not add it)."""
    replacements = placeholders(base_url, mail_domain)
    used: set[str] = set()
    html = _replace(message.html, replacements, used)
    text = _replace(message.text, replacements, used)
    amp = _replace(message.amp_html, replacements, used)
    headers: list[tuple[str, str]] = []
    one_click = False
    for name, value in message.headers:
        in_header: set[str] = set()
        headers.append((name, _replace(value, replacements, in_header) or ""))
        used |= in_header
        if name.lower() == "list-unsubscribe" and in_header & set(URL_BUILTINS):
            one_click = True
    if one_click and not any(name.lower() == "list-unsubscribe-post" for name, _ in headers):
        headers.append(("List-Unsubscribe-Post", ONE_CLICK))
    if not used:
        return message, used
    return dataclasses.replace(message, html=html, text=text, amp_html=amp, headers=headers), used


def token_filler(signer: Signer, batch: Batch, used: set[str]) -> Callable[[Sequence[Recipient]], list[dict[str, str]]]:
    """Each recipient's unsubscribe tokens (or address local parts), one per built-in the message uses."""
    tags = tag_scope(list(batch.tags))
    scopes = {"unsubscribe_url": DOMAIN, "mailing_list_unsubscribe_url": MAILING_LIST, "tag_unsubscribe_url": tags,
              "unsubscribe_email": DOMAIN, "tag_unsubscribe_email": tags}
    wanted = [(KEYS[name], scopes[name], local_part if name in MAIL_BUILTINS else sign) for name in sorted(used)]

    def fill(rows: Sequence[Recipient]) -> list[dict[str, str]]:
        now = time.time()
        return [{key: encode(signer, batch.id, row.id, scope, now) for key, scope, encode in wanted} for row in rows]

    return fill


def add_unsubscribe_links(signer: Signer | None, base_url: str | None, batch: Batch, message: Message,
                          prepared: PreparedTemplate | None,
                          mail_domain: str | None = None) -> PreparedTemplate | None:
    """``prepared`` (or the message) with signed unsubscribe links and addresses, when the message
    uses any."""
    if signer is None or not (base_url or mail_domain) or message.mime is not None:
        return prepared
    current = prepared.message if prepared is not None else message
    changed, used = with_unsubscribe_links(current, base_url, mail_domain)
    if not used:
        return prepared
    fills = [fill for fill in (prepared.values if prepared else None, token_filler(signer, batch, used)) if fill]

    def values(rows: Sequence[Recipient]) -> list[Mapping[str, str]]:
        filled = [fill(rows) for fill in fills]
        return [{key: value for each in mappings for key, value in each.items()} for mappings in zip(*filled)]

    return PreparedTemplate(changed, values)
