"""Two-factor sign-in: TOTP (RFC 6238, 6 digits, 30 s) with the secret encrypted at rest, each code
taken once, and ten one-time recovery codes stored as argon2 hashes."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import re
import secrets
import time
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from ..auth_models import DashboardRecoveryCode, DashboardUser
from .accounts import Locked

log = logging.getLogger("postgate.dashboard")

ISSUER = "Postgate"
STEP_SECONDS = 30
RECOVERY_CODES = 10
#: Recovery-code letters: lower case and digits without look-alikes (0/o, 1/l/i).
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 10
_TOTP_CODE = re.compile(r"[0-9]{6}")
#: Recovery codes carry ~50 random bits, so OWASP's lighter argon2id profile is plenty.
_recovery_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def secret_box(dashboard_secret: bytes) -> Fernet:
    """The Fernet key that encrypts TOTP secrets, derived (HKDF-SHA256) from the dashboard's secret,
    so a copy of the database alone yields no codes."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"postgate-dashboard-totp-secret").derive(dashboard_secret)
    return Fernet(base64.urlsafe_b64encode(key))


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (also drawn as the QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The 30-second step whose code ``code`` is (this one or a neighbour, for clock drift)."""
    if not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten fresh codes, shown as ``abcde-fghjk``."""
    codes = ("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
             for _ in range(RECOVERY_CODES))
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def normal_recovery_code(text: str) -> str | None:
    """The code without case, spaces or hyphens; ``None`` when it cannot be a recovery code."""
    code = re.sub(r"[\s-]", "", text[:64]).lower()
    if len(code) != RECOVERY_LENGTH or any(c not in RECOVERY_ALPHABET for c in code):
        return None
    return code


def _first_match(hashes_by_id: list[tuple[int, str]], code: str) -> int | None:
    for code_id, code_hash in hashes_by_id:
        try:
            if _recovery_hasher.verify(code_hash, code):
                return code_id
        except (VerificationError, InvalidHashError):
            continue
    return None


def _decrypt(box: Fernet, row: DashboardUser) -> str | None:
    if not row.totp_secret:
        return None
    try:
        return box.decrypt(row.totp_secret.encode()).decode()
    except InvalidToken:
        log.error("dashboard: the TOTP secret of %s cannot be decrypted (was the dashboard secret key "
                  "changed?); reset it with `postgate dashboard reset-2fa %s`", row.email, row.email)
        return None


async def start_enrollment(gateway: Any, box: Fernet, user_id: int) -> bool:
    """Store a new, not yet confirmed secret; ``False`` when two-factor is already on."""
    token = box.encrypt(pyotp.random_base32().encode()).decode()
    with gateway.storage.orm():
        changed = await DashboardUser.filter(id=user_id, totp_enabled_at=None).update(totp_secret=token)
    return changed == 1


async def pending_secret(gateway: Any, box: Fernet, user_id: int) -> str | None:
    """The secret being set up (not confirmed yet), if any."""
    with gateway.storage.orm():
        row = await DashboardUser.get_or_none(id=user_id)
    if row is None or row.totp_enabled_at is not None:
        return None
    return _decrypt(box, row)


async def confirm_enrollment(gateway: Any, box: Fernet, user_id: int, code: str) -> list[str] | None:
    """Turn two-factor on if ``code`` fits the pending secret: the new recovery codes (to show
    once), else ``None``."""
    now = time.time()
    secret = await pending_secret(gateway, box, user_id)
    step = matching_step(secret, code.strip(), now) if secret else None
    if step is None:
        return None
    codes = await replace_recovery_codes(gateway, user_id)
    with gateway.storage.orm():
        changed = await DashboardUser.filter(id=user_id, totp_enabled_at=None).update(
            totp_enabled_at=now, totp_last_step=step, failed_codes=0)
    if changed != 1:
        return None
    log.info("dashboard: two-factor sign-in turned on for account %d", user_id)
    return codes


async def replace_recovery_codes(gateway: Any, user_id: int) -> list[str]:
    """Ten new recovery codes for the account (to show once); the old ones stop working."""
    codes = new_recovery_codes()
    hashed = await asyncio.to_thread(lambda: [_recovery_hasher.hash(c.replace("-", "")) for c in codes])
    with gateway.storage.orm():
        async with in_transaction():
            await DashboardRecoveryCode.filter(user_id=user_id).delete()
            await DashboardRecoveryCode.bulk_create([DashboardRecoveryCode(user_id=user_id, code_hash=h)
                                                     for h in hashed])
    return codes


async def _take_totp(row: DashboardUser, secret: str, code: str, now: float) -> bool:
    step = matching_step(secret, code, now)
    if step is None:
        return False
    # One statement: of two requests with the same code, only one moves the step forward.
    taken = await DashboardUser.filter(id=row.id, totp_last_step__lt=step).update(totp_last_step=step)
    if taken != 1:
        log.warning("dashboard: a TOTP code of %s was used again within its window: refused", row.email)
    return taken == 1


async def _take_recovery_code(row: DashboardUser, text: str, now: float) -> bool:
    code = normal_recovery_code(text)
    if code is None:
        return False
    unused = await DashboardRecoveryCode.filter(user_id=row.id, used_at=None).values_list("id", "code_hash")
    code_id = await asyncio.to_thread(_first_match, list(unused), code)
    if code_id is None:
        return False
    taken = await DashboardRecoveryCode.filter(id=code_id, used_at=None).update(used_at=now)
    if taken == 1:
        log.warning("dashboard: %s used a recovery code (%d left)", row.email, len(unused) - 1)
    return taken == 1


async def take_code(gateway: Any, box: Fernet, user_id: int, code: str, *, totp_only: bool = False) -> bool:
    """Whether ``code`` is a fresh TOTP code or (unless ``totp_only``) an unused recovery code of
    the account (and use it up)."""
    now = time.time()
    code = code.strip()[:64]
    with gateway.storage.orm():
        row = await DashboardUser.get_or_none(id=user_id)
        if row is None or row.totp_enabled_at is None:
            return False
        if _TOTP_CODE.fullmatch(code):
            secret = _decrypt(box, row)
            return secret is not None and await _take_totp(row, secret, code, now)
        return not totp_only and await _take_recovery_code(row, code, now)


async def check_second_step(gateway: Any, box: Fernet, user_id: int, code: str, *, attempts: int,
                            lockout: float, client: str, action: str = "signed in",
                            totp_only: bool = False) -> bool:
    """A code of the account, counted like passwords: raises :class:`Locked` while the account is
    locked, and locks it (logging a warning) after ``attempts`` wrong codes in a row. The sign-in's
    second step, and the account page's changes to two-factor (``action`` names them in the log)."""
    now = time.time()
    with gateway.storage.orm():
        row = await DashboardUser.get_or_none(id=user_id)
    if row is None:
        return False
    if row.locked_until > now:
        raise Locked
    passed = await take_code(gateway, box, user_id, code, totp_only=totp_only)
    with gateway.storage.orm():
        if passed:
            await DashboardUser.filter(id=user_id).update(failed_codes=0)
            log.info("dashboard: %s %s from %s (second step passed)", row.email, action, client)
            return True
        await DashboardUser.filter(id=user_id).update(failed_codes=F("failed_codes") + 1)
        failures = (await DashboardUser.get(id=user_id)).failed_codes
        if failures >= attempts:
            await DashboardUser.filter(id=user_id).update(locked_until=now + lockout, failed_codes=0)
            log.warning("dashboard: account %s locked for %d s after %d wrong second-step codes (last from %s)",
                        row.email, lockout, failures, client)
    return False


async def recovery_codes_left(gateway: Any, user_id: int) -> int:
    with gateway.storage.orm():
        return await DashboardRecoveryCode.filter(user_id=user_id, used_at=None).count()


async def reset_two_factor(gateway: Any, user_id: int) -> None:
    """Turn two-factor off and forget the secret and the recovery codes; a lock-out ends too (the
    person who lost the phone may have run into it)."""
    with gateway.storage.orm():
        await DashboardRecoveryCode.filter(user_id=user_id).delete()
        await DashboardUser.filter(id=user_id).update(totp_secret=None, totp_enabled_at=None, totp_last_step=0,
                                                      failed_codes=0, locked_until=0.0)
