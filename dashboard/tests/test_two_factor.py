"""Two-factor sign-in on SQLite and MariaDB: the secret encrypted at rest, confirmation before it is
on, codes taken once (replay refused), recovery codes hashed and single-use, the second step's
lock-out, the reset, and hostile codes refused."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time

import httpx
import pyotp
import pytest
from click.testing import CliRunner

import postgate_dashboard
from postgate import Gateway
from postgate.testing.fixtures import make_settings
from postgate_dashboard.auth_models import DashboardRecoveryCode, DashboardUser
from postgate_dashboard.web import accounts, two_factor
from postgate_dashboard.web.commands import reset_two_factor_command
from postgate_dashboard.web.two_factor_routes import PENDING_COOKIE
from postgate_dashboard.web_plugin import dashboard_of

from dashboard.tests.totp_codes import previous_step_code

PASSWORD = "correct horse battery"
BOX = two_factor.secret_box(b"the dashboard secret of this test")
HOSTILE_CODES = ["", "12345", "1234567", "12345\n6", "123\x00456", "١٢٣٤٥٦", "abcde\r\nfghjk", "x" * 100_000,
                 "abcde-fghj\u2028k", "../../etc", "𝟏𝟐𝟑𝟒𝟓𝟔"]


async def enrolled(gateway, email: str = "ann@example.com") -> tuple[accounts.Account, pyotp.TOTP, list[str]]:
    """An account with two-factor on, confirmed with the previous step's code (so the current one
    is still fresh), its authenticator and its recovery codes."""
    account = await accounts.create_user(gateway, email, PASSWORD, "admin")
    assert await two_factor.start_enrollment(gateway, BOX, account.id)
    totp = pyotp.TOTP(await two_factor.pending_secret(gateway, BOX, account.id))
    codes = await two_factor.confirm_enrollment(gateway, BOX, account.id, totp.at(time.time() - 30))
    assert codes is not None
    return account, totp, codes


async def second_step(gateway, account, code: str, attempts: int = 5) -> bool:
    return await two_factor.check_second_step(gateway, BOX, account.id, code, attempts=attempts, lockout=600,
                                              client="test")


async def test_enrolment_needs_a_fitting_code_and_keeps_the_secret_encrypted(gateway) -> None:
    account = await accounts.create_user(gateway, "ann@example.com", PASSWORD, "admin")
    assert await two_factor.start_enrollment(gateway, BOX, account.id)
    secret = await two_factor.pending_secret(gateway, BOX, account.id)
    uri = two_factor.provisioning_uri(secret, account.email)
    assert uri.startswith("otpauth://totp/Postgate:ann%40example.com?") and f"secret={secret}" in uri
    with gateway.storage.orm():
        row = await DashboardUser.get(id=account.id)
    assert secret not in row.totp_secret and BOX.decrypt(row.totp_secret.encode()).decode() == secret
    # A dump of the database with another dashboard secret gives nothing.
    other = two_factor.secret_box(b"another secret")
    assert await two_factor.pending_secret(gateway, other, account.id) is None

    totp = pyotp.TOTP(secret)
    assert await two_factor.confirm_enrollment(gateway, BOX, account.id, totp.at(time.time() - 3600)) is None
    assert (await accounts.find_user(gateway, account.email)).two_factor is False  # not on before the code fits
    codes = await two_factor.confirm_enrollment(gateway, BOX, account.id, totp.now())
    assert codes is not None and len(codes) == len(set(codes)) == 10
    assert (await accounts.find_user(gateway, account.email)).two_factor is True
    assert not await two_factor.start_enrollment(gateway, BOX, account.id)  # on: no new secret over it
    with gateway.storage.orm():
        hashes = await DashboardRecoveryCode.filter(user_id=account.id).values_list("code_hash", flat=True)
    assert len(hashes) == 10 and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(code.replace("-", "") in h for code in codes for h in hashes)


async def test_a_totp_code_works_once(gateway) -> None:
    account, totp, _ = await enrolled(gateway)
    code = totp.now()
    assert await second_step(gateway, account, code)
    assert not await second_step(gateway, account, code)  # replayed in its window
    assert not await second_step(gateway, account, totp.at(time.time() - 30))  # an older step after a newer
    assert not await second_step(gateway, account, totp.at(time.time() - 120))  # out of the window


async def test_recovery_codes_work_once_each(gateway, caplog) -> None:
    account, _, codes = await enrolled(gateway)
    caplog.set_level(logging.WARNING, logger="postgate.dashboard")
    assert await second_step(gateway, account, f"  {codes[3].upper().replace('-', ' ')} ")
    assert not await second_step(gateway, account, codes[3])
    assert await second_step(gateway, account, codes[7])
    assert await two_factor.recovery_codes_left(gateway, account.id) == 8
    assert any("used a recovery code (9 left)" in r.getMessage() for r in caplog.records)


async def test_wrong_codes_lock_the_account_and_are_logged(gateway, caplog) -> None:
    account, totp, _ = await enrolled(gateway)
    caplog.set_level(logging.WARNING, logger="postgate.dashboard")
    for _ in range(3):
        assert not await second_step(gateway, account, "000000" if totp.now() != "000000" else "111111", 3)
    with pytest.raises(accounts.Locked):
        await second_step(gateway, account, totp.now(), 3)
    assert any(f"account {account.email} locked for 600 s after 3 wrong second-step codes" in r.getMessage()
               for r in caplog.records)
    # A right password does not reset the count of wrong codes (the two are counted apart).
    with gateway.storage.orm():
        await DashboardUser.filter(id=account.id).update(locked_until=0, failed_codes=2)
    assert await accounts.verify_login(gateway, account.email, PASSWORD, attempts=3, lockout=600, client="t")
    assert not await second_step(gateway, account, "12345x", 3)
    with pytest.raises(accounts.Locked):
        await second_step(gateway, account, totp.now(), 3)


async def test_hostile_codes_are_refused(gateway) -> None:
    account, _, _ = await enrolled(gateway)
    for code in HOSTILE_CODES:
        assert not await second_step(gateway, account, code, attempts=100), repr(code)
        assert two_factor.matching_step("JBSWY3DPEHPK3PXP", code, time.time()) is None


async def test_reset_turns_two_factor_off_and_forgets_the_codes(gateway) -> None:
    account, totp, codes = await enrolled(gateway)
    await two_factor.reset_two_factor(gateway, account.id)
    assert (await accounts.find_user(gateway, account.email)).two_factor is False
    assert await two_factor.recovery_codes_left(gateway, account.id) == 0
    assert not await second_step(gateway, account, codes[0])
    with gateway.storage.orm():
        row = await DashboardUser.get(id=account.id)
    assert row.totp_secret is None and row.totp_last_step == 0
    # Deleting the account deletes its codes too.
    again, _, _ = await enrolled(gateway, "bo@example.com")
    await accounts.delete_user(gateway, again.id)
    with gateway.storage.orm():
        assert await DashboardRecoveryCode.filter(user_id=again.id).count() == 0


def test_codes_of_neighbouring_steps_are_accepted_for_clock_drift() -> None:
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    now = 1_800_000_015.0
    step = int(now // 30)
    assert two_factor.matching_step(secret, totp.at(now), now) == step
    assert two_factor.matching_step(secret, totp.at(now - 30), now) == step - 1
    assert two_factor.matching_step(secret, totp.at(now + 30), now) == step + 1
    assert two_factor.matching_step(secret, totp.at(now - 60), now) is None


def test_recovery_codes_are_normalised_and_checked() -> None:
    codes = two_factor.new_recovery_codes()
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    assert two_factor.normal_recovery_code(" ABCDE fghjk ") == "abcdefghjk"
    for bad in ("abcde-fghj0", "abcde-fghjkk", "abcde\x00fghjk", "", "abcdé-fghjk"):
        assert two_factor.normal_recovery_code(bad) is None


def test_reset_2fa_command(tmp_path) -> None:
    data = tmp_path / "data"

    async def account_after(change=None):
        gateway = Gateway(make_settings(data), plugins=[postgate_dashboard])
        await gateway.start()
        try:
            if change:
                await change(gateway)
            return await accounts.find_user(gateway, "ann@example.com")
        finally:
            await gateway.stop()

    assert asyncio.run(account_after(enrolled)).two_factor
    env = {k: None for k in os.environ if k.startswith("POSTGATE_")}
    env.update(POSTGATE_LOAD_PLUGINS='["dashboard"]', POSTGATE_DATA_DIR=str(data))
    runner = CliRunner()
    unknown = runner.invoke(reset_two_factor_command, ["nobody@example.com"], env=env)
    assert unknown.exit_code != 0 and "no dashboard account has the address" in unknown.output
    done = runner.invoke(reset_two_factor_command, ["ANN@example.com"], env=env)
    assert done.exit_code == 0, done.output
    assert "two-factor sign-in reset for ann@example.com" in done.output
    assert not asyncio.run(account_after()).two_factor


def test_the_second_step_over_http_refuses_hostile_codes_and_forged_cookies(live_server) -> None:
    server = live_server(plugins=[postgate_dashboard], plugin_settings={"dashboard": {"cookie_secure": False}})
    box = dashboard_of(server.gateway).totp_box
    account = server.run(accounts.create_user(server.gateway, "ann@example.com", PASSWORD, "admin"))
    server.run(two_factor.start_enrollment(server.gateway, box, account.id))
    secret = server.run(two_factor.pending_secret(server.gateway, box, account.id))
    assert server.run(two_factor.confirm_enrollment(server.gateway, box, account.id,
                                                    previous_step_code(pyotp.TOTP(secret))))
    base = f"{server.url}/dashboard"

    def token(page: httpx.Response) -> str:
        return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)

    with httpx.Client(timeout=30) as client:
        form = {"email": "ann@example.com", "password": PASSWORD, "csrf_token": token(client.get(f"{base}/login"))}
        assert client.post(f"{base}/login", data=form).headers["location"].endswith("/dashboard/login/code")
        step = client.get(f"{base}/login/code")
        assert step.status_code == 200
        for code in HOSTILE_CODES[:8]:
            answer = client.post(f"{base}/login/code", data={"code": code, "csrf_token": token(step)})
            assert answer.status_code in (401, 429), (code, answer.status_code)
        assert client.get(f"{base}/operations").status_code == 303  # still not signed in
    with httpx.Client(timeout=30, cookies={PENDING_COOKIE: "1.forged"}) as forger:
        assert forger.get(f"{base}/login/code").headers["location"].endswith("/dashboard/login")


def two_factor_server(live_server, **settings):
    """A live gateway whose ann@example.com has two-factor on; her authenticator and recovery codes."""
    server = live_server(plugins=[postgate_dashboard],
                         plugin_settings={"dashboard": {"cookie_secure": False, **settings}})
    box = dashboard_of(server.gateway).totp_box
    account = server.run(accounts.create_user(server.gateway, "ann@example.com", PASSWORD, "admin"))
    server.run(two_factor.start_enrollment(server.gateway, box, account.id))
    totp = pyotp.TOTP(server.run(two_factor.pending_secret(server.gateway, box, account.id)))
    codes = server.run(two_factor.confirm_enrollment(server.gateway, box, account.id, previous_step_code(totp)))
    assert codes
    return server, account, totp, codes


def csrf_of(page: httpx.Response) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)


def signed_in_with_code(server, code: str) -> httpx.Client:
    base = f"{server.url}/dashboard"
    client = httpx.Client(timeout=30)
    form = {"email": "ann@example.com", "password": PASSWORD, "csrf_token": csrf_of(client.get(f"{base}/login"))}
    assert client.post(f"{base}/login", data=form).status_code == 303
    done = client.post(f"{base}/login/code", data={"code": code, "csrf_token": csrf_of(client.get(f"{base}/login/code"))})
    assert done.status_code == 303 and done.headers["location"].endswith("/dashboard/operations"), done.text
    return client


def unused_codes(server, user_id: int) -> int:
    return server.run(two_factor.recovery_codes_left(server.gateway, user_id))


def test_new_recovery_codes_need_a_current_code_and_end_the_old_ones(live_server) -> None:
    server, account, totp, old_codes = two_factor_server(live_server)
    box = dashboard_of(server.gateway).totp_box
    base = f"{server.url}/dashboard"
    with contextlib.closing(signed_in_with_code(server, totp.now())) as client:
        page = client.get(f"{base}/account")
        assert 'action="/dashboard/account/two-factor/recovery-codes"' in page.text
        renew = f"{base}/account/two-factor/recovery-codes"
        assert client.post(renew, data={"code": totp.at(time.time() + 30)}).status_code == 403  # no CSRF token
        for code in ("000000", old_codes[0], "12345\n6", "x" * 100_000):  # a recovery code is no current code
            answer = client.post(renew, data={"code": code, "csrf_token": csrf_of(page)})
            assert answer.status_code == 401 and "stay as they were" in answer.text, code
        assert unused_codes(server, account.id) == 10
        answer = client.post(renew, data={"code": totp.at(time.time() + 30), "csrf_token": csrf_of(page)})
        assert answer.status_code == 200, answer.text
        new_codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", answer.text)
        assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
        assert "old recovery codes no longer work" in answer.text
    assert unused_codes(server, account.id) == 10
    assert not server.run(two_factor.take_code(server.gateway, box, account.id, old_codes[1]))
    assert server.run(two_factor.take_code(server.gateway, box, account.id, new_codes[0]))
    assert unused_codes(server, account.id) == 9


def test_turning_two_factor_off_is_limited_like_the_second_step(live_server) -> None:
    server, account, totp, codes = two_factor_server(live_server, login_attempts=3, address_attempts=50)
    base = f"{server.url}/dashboard"
    with contextlib.closing(signed_in_with_code(server, totp.now())) as client:
        token = csrf_of(client.get(f"{base}/account"))
        off = f"{base}/account/two-factor/off"
        statuses = [client.post(off, data={"code": code, "csrf_token": token}).status_code
                    for code in ("111111", "222222", "aaaaa-bbbbb")]
        assert statuses == [401, 401, 401]
        locked = client.post(off, data={"code": codes[0], "csrf_token": token})  # right, but too late
        assert locked.status_code == 429 and "locked" in locked.text
        assert client.get(f"{base}/account").status_code == 200  # the session itself goes on
    assert unused_codes(server, account.id) == 10  # the recovery code was not taken
    assert server.run(_two_factor_on(server, account.id))


async def _two_factor_on(server, user_id: int) -> bool:
    with server.gateway.storage.orm():
        return (await DashboardUser.get(id=user_id)).totp_enabled_at is not None


def test_the_code_forms_share_the_address_limit(live_server) -> None:
    server, account, totp, codes = two_factor_server(live_server, login_attempts=50, address_attempts=2)
    base = f"{server.url}/dashboard"
    with contextlib.closing(signed_in_with_code(server, totp.now())) as client:
        token = csrf_of(client.get(f"{base}/account"))
        for path in ("off", "recovery-codes"):
            assert client.post(f"{base}/account/two-factor/{path}",
                               data={"code": "123456", "csrf_token": token}).status_code == 401
        refused = client.post(f"{base}/account/two-factor/off", data={"code": codes[0], "csrf_token": token})
        assert refused.status_code == 429 and "from your address" in refused.text
    assert server.run(_two_factor_on(server, account.id))
