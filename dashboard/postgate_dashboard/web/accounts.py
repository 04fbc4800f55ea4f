"""Dashboard accounts: create, verify passwords (argon2id) with lock-out, and sessions."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tortoise.expressions import F

from ..auth_models import DashboardUser

log = logging.getLogger("postgate.dashboard")

ROLES = ("admin", "viewer")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
_hasher = PasswordHasher()
#: Verified against when the account does not exist, so both cases take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """An account cannot be created as asked; the text says why."""


@dataclass(frozen=True, slots=True)
class Account:
    """The signed-in person as the pages see them."""

    id: int
    email: str
    role: str
    #: Whether sign-in asks for a second step (a TOTP code or a recovery code).
    two_factor: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _account(row: DashboardUser) -> Account:
    return Account(id=row.id, email=row.email, role=row.role, two_factor=row.totp_enabled_at is not None)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password may have at most {MAX_PASSWORD} characters")


def normal_email(email: str) -> str:
    email = email.strip().lower()
    local, at, domain = email.partition("@")
    if (not at or not local or "." not in domain or len(email) > 320
            or any(c.isspace() or not c.isprintable() for c in email)):
        raise AccountError("enter an email address such as ann@example.com")
    return email


async def count_users(gateway: Any) -> int:
    with gateway.storage.orm():
        return await DashboardUser.all().count()


async def create_user(gateway: Any, email: str, password: str, role: str) -> Account:
    """Store a new account; raises :class:`AccountError` for a bad address, password, role or a
    taken address."""
    email = normal_email(email)
    check_password(password)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    password_hash = await asyncio.to_thread(_hasher.hash, password)
    with gateway.storage.orm():
        if await DashboardUser.filter(email=email).exists():
            raise AccountError(f"{email} already has an account")
        row = await DashboardUser.create(email=email, password_hash=password_hash, role=role,
                                         session_key=secrets.token_hex(16), created_at=time.time())
    log.info("dashboard: account %s created with role %s", email, role)
    return _account(row)


async def find_user(gateway: Any, email: str) -> Account | None:
    """The account of an address (any case), if there is one."""
    try:
        email = normal_email(email)
    except AccountError:
        return None
    with gateway.storage.orm():
        row = await DashboardUser.get_or_none(email=email)
    return _account(row) if row is not None else None


async def list_users(gateway: Any) -> list[Account]:
    with gateway.storage.orm():
        rows = await DashboardUser.all().order_by("email")
    return [_account(r) for r in rows]


async def delete_user(gateway: Any, user_id: int) -> None:
    with gateway.storage.orm():
        await DashboardUser.filter(id=user_id).delete()


class Locked(Exception):
    """The account is locked after too many wrong passwords."""


async def verify_login(gateway: Any, email: str, password: str, *, attempts: int, lockout: float,
                       client: str) -> tuple[Account, str] | None:
    """The account and its session id for a right password; ``None`` for a wrong one or an
    unknown address. Raises :class:`Locked` while the account is locked (the password is not
    even checked), and locks it, logging a warning, after ``attempts`` wrong passwords in a row."""
    now = time.time()
    try:
        email = normal_email(email)
    except AccountError:
        email = ""
    with gateway.storage.orm():
        row = await DashboardUser.get_or_none(email=email) if email else None
    if row is not None and row.locked_until > now:
        raise Locked
    candidate = row.password_hash if row is not None else _DUMMY_HASH
    try:
        ok = await asyncio.to_thread(_hasher.verify, candidate, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        ok = False
    if row is None:
        return None
    with gateway.storage.orm():
        if not ok:
            # Counted in the database in one statement, so parallel guesses are all counted.
            await DashboardUser.filter(id=row.id).update(failed_logins=F("failed_logins") + 1)
            failures = (await DashboardUser.get(id=row.id)).failed_logins
            if failures >= attempts:
                await DashboardUser.filter(id=row.id).update(locked_until=now + lockout, failed_logins=0)
                log.warning("dashboard: account %s locked for %d s after %d wrong passwords (last from %s)",
                            row.email, lockout, failures, client)
            return None
        row.failed_logins = 0
        row.last_login_at = now
        if _hasher.check_needs_rehash(row.password_hash):
            row.password_hash = await asyncio.to_thread(_hasher.hash, password)
        await row.save(update_fields=["failed_logins", "last_login_at", "password_hash"])
    account = _account(row)
    if account.two_factor:
        log.info("dashboard: %s gave the right password from %s; the second step follows", row.email, client)
    else:
        log.info("dashboard: %s signed in from %s", row.email, client)
    return account, f"{row.id}.{row.session_key}"


async def session_account(gateway: Any, auth_id: str | None) -> Account | None:
    """The account a session cookie's id names, if that session is still valid."""
    if not auth_id:
        return None
    user_id, _, key = auth_id.partition(".")
    if not user_id.isdigit() or not key:
        return None
    with gateway.storage.orm():
        row = await DashboardUser.get_or_none(id=int(user_id))
    if row is None or not secrets.compare_digest(row.session_key, key):
        return None
    return _account(row)


async def end_sessions(gateway: Any, user_id: int) -> None:
    """Invalidate every session of the account (a new session key)."""
    with gateway.storage.orm():
        await DashboardUser.filter(id=user_id).update(session_key=secrets.token_hex(16))
