"""Accounts on SQLite and MariaDB: argon2 hashes, sign-in, lock-out after wrong passwords,
session ids that stop working at sign-out, and refused accounts."""

from __future__ import annotations

import pytest

from postgate_dashboard.auth_models import DashboardUser
from postgate_dashboard.web import accounts

PASSWORD = "correct horse battery"


async def login(gateway, email, password, attempts=3):
    return await accounts.verify_login(gateway, email, password, attempts=attempts, lockout=600, client="test")


async def test_passwords_are_stored_as_argon2id_and_checked(gateway) -> None:
    made = await accounts.create_user(gateway, " Ann@Example.COM ", PASSWORD, "viewer")
    assert (made.email, made.role) == ("ann@example.com", "viewer")
    with gateway.storage.orm():
        row = await DashboardUser.get(email="ann@example.com")
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert await login(gateway, "ann@example.com", "wrong password!") is None
    assert await login(gateway, "nobody@example.com", PASSWORD) is None
    account, session = await login(gateway, "ANN@example.com", PASSWORD)
    assert account == made
    assert await accounts.session_account(gateway, session) == made
    await accounts.end_sessions(gateway, made.id)
    assert await accounts.session_account(gateway, session) is None
    assert await accounts.session_account(gateway, f"{made.id}.forged") is None
    assert await accounts.session_account(gateway, "x.y") is None


async def test_wrong_passwords_in_a_row_lock_the_account(gateway) -> None:
    await accounts.create_user(gateway, "bo@example.com", PASSWORD, "admin")
    assert await login(gateway, "bo@example.com", "wrong password!") is None
    assert await login(gateway, "bo@example.com", PASSWORD) is not None  # resets the count
    for _ in range(3):
        assert await login(gateway, "bo@example.com", "wrong password!") is None
    with pytest.raises(accounts.Locked):
        await login(gateway, "bo@example.com", PASSWORD)


@pytest.mark.parametrize("email, password, role, why", [
    ("not-an-address", PASSWORD, "admin", "enter an email address"),
    ("a@example.com", "short", "admin", "at least 12 characters"),
    ("a@example.com", PASSWORD, "root", "role must be one of admin, viewer"),
])
async def test_bad_accounts_are_refused(gateway, email, password, role, why) -> None:
    with pytest.raises(accounts.AccountError, match=why):
        await accounts.create_user(gateway, email, password, role)
    assert await accounts.count_users(gateway) == 0


async def test_an_address_has_one_account(gateway) -> None:
    await accounts.create_user(gateway, "cy@example.com", PASSWORD, "admin")
    with pytest.raises(accounts.AccountError, match="already has an account"):
        await accounts.create_user(gateway, "CY@example.com", PASSWORD, "viewer")
