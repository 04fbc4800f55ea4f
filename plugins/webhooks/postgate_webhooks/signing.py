"""The HTTP signing key of each account, and Mailgun's signature over a webhook POST.

Mailgun keeps one signing key per account. Here an account is the set of sending domains that
share one API key, named after the first of them in sorted order: a key for several domains
sees and rotates one signing key, and domains with keys of their own keep keys of their own.
A key is made on first use and changes only when rotated (``POST /v5/accounts/http_signing_key``
or ``postgate webhooks signing-key --rotate``).
"""

from __future__ import annotations

import hmac
import os
import secrets
import time

from tortoise.exceptions import IntegrityError

from .models import SigningKey

#: Characters of a signature token (Mailgun's are 50 of them).
TOKEN_LENGTH = 50


def account_of(domain_keys: dict[str, str | None], domain: str) -> str:
    """The account of ``domain``: the first domain (sorted) that has the same API key."""
    key = domain_keys.get(domain)
    if key is None:
        return domain
    return min(name for name, other in domain_keys.items() if other == key)


def new_key() -> str:
    """A signing key shaped like Mailgun's: ``key-`` and 32 hex digits."""
    return "key-" + secrets.token_hex(16)


#: Tokens drawn from the system's random source at once (one read instead of one per POST).
TOKENS_AT_ONCE = 64
_tokens: list[str] = []
os.register_at_fork(after_in_child=_tokens.clear)  # a child never repeats its parent's tokens


def new_token() -> str:
    """50 random hex digits, fresh for every attempt."""
    if not _tokens:
        drawn = secrets.token_hex(TOKEN_LENGTH // 2 * TOKENS_AT_ONCE)
        _tokens.extend(drawn[start:start + TOKEN_LENGTH] for start in range(0, len(drawn), TOKEN_LENGTH))
    return _tokens.pop()


def signature(key: str, timestamp: str, token: str) -> str:
    """Mailgun's signature: hex HMAC-SHA256 of ``timestamp + token`` under the signing key."""
    return hmac.digest(key.encode(), f"{timestamp}{token}".encode(), "sha256").hex()


async def signing_key(account: str) -> str:
    """The account's key, made on first use (call inside ``storage.orm()``). Two processes
    making it at once agree on the one stored first."""
    row = await SigningKey.get_or_none(account=account)
    if row is not None:
        return row.key
    try:
        await SigningKey.create(account=account, key=new_key(), created_at=time.time())
    except IntegrityError:
        pass
    return (await SigningKey.get(account=account)).key


async def rotate_key(account: str) -> str:
    """Replace the account's key with a new one; returns it."""
    key = new_key()
    updated = await SigningKey.filter(account=account).update(key=key, created_at=time.time())
    if not updated:
        try:
            await SigningKey.create(account=account, key=key, created_at=time.time())
        except IntegrityError:
            await SigningKey.filter(account=account).update(key=key, created_at=time.time())
    return key
