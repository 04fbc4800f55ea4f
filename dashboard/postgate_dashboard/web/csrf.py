"""CSRF tokens: an HMAC of a random per-browser seed (its own cookie) and the session id.

Every form carries the token in a hidden ``csrf_token`` field; a POST whose token does not match
the seed cookie and the current session is refused with 403. A token from before sign-in does not
work after it, and a forged page cannot read the seed (HttpOnly, SameSite=Strict).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SEED_COOKIE = "postgate_dashboard_csrf"
FIELD = "csrf_token"


def new_seed() -> str:
    return secrets.token_urlsafe(24)


def token_for(secret: bytes, seed: str, session_id: str | None) -> str:
    message = f"csrf|{seed}|{session_id or ''}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def valid(secret: bytes, seed: str | None, session_id: str | None, token: str | None) -> bool:
    if not seed or not token:
        return False
    return hmac.compare_digest(token_for(secret, seed, session_id), token)
