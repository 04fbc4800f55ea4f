"""Two-factor sign-in in a real browser (Debian's chromium through playwright) against a live
gateway: set up with the QR page, sign in with an app code (computed by pyotp) and with a recovery
code, replays refused, and an admin's reset. Screenshots go to
``tests/artifacts/screenshots/``."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pyotp
import pytest

import postgate_dashboard
from postgate_dashboard.web.accounts import create_user
from postgate_dashboard.web_plugin import dashboard_of

from dashboard.tests.totp_codes import previous_step_code

PASSWORD = "correct horse battery"


@pytest.fixture
def server(live_server):
    return live_server(plugins=[postgate_dashboard])


def sign_in(page, server, email: str) -> None:
    page.goto(f"{server.url}/dashboard/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def give_code(page, code: str) -> None:
    page.fill("input[name=code]", code)
    page.click("form[action$='/login/code'] button[type=submit]")


def sign_out(page) -> None:
    page.click("text=Sign out")
    assert page.url.endswith("/dashboard/login")


def enrol(page, server, screenshots: Path | None) -> tuple[pyotp.TOTP, list[str]]:
    """Turn two-factor on from the account page; the app code is the previous step's, so the
    current step's is still fresh for the next sign-in."""
    page.goto(f"{server.url}/dashboard/account")
    page.click("text=Set up two-factor sign-in")
    assert page.url.endswith("/dashboard/account/two-factor")
    secret = page.inner_text("#totp-secret").strip()
    uri = page.get_attribute("#otpauth-uri", "href")
    assert uri == pyotp.TOTP(secret).provisioning_uri(name="ann@example.com", issuer_name="Postgate")
    qr = page.locator("img.qr")
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 100")  # drawn, under the strict CSP
    if screenshots:
        page.set_viewport_size({"width": 1100, "height": 760})
        page.screenshot(path=screenshots / "two-factor-setup-light.png", full_page=True)
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=screenshots / "two-factor-setup-dark.png", full_page=True)
        page.emulate_media(color_scheme="light")
    totp = pyotp.TOTP(secret)
    page.fill("input[name=code]", "000000" if totp.now() != "000000" else "111111")
    page.click("form[action$='/confirm'] button[type=submit]")
    assert "That code does not fit" in page.inner_text("main")
    page.fill("input[name=code]", previous_step_code(totp))
    page.click("form[action$='/confirm'] button[type=submit]")
    codes = [c.strip() for c in page.locator("#recovery-codes li").all_inner_texts()]
    assert len(codes) == len(set(codes)) == 10
    if screenshots:
        page.screenshot(path=screenshots / "two-factor-recovery-codes.png", full_page=True)
    return totp, codes


def test_enrol_then_sign_in_with_an_app_code_and_a_recovery_code(browser, server, screenshots) -> None:
    server.run(create_user(server.gateway, "ann@example.com", PASSWORD, "admin"))
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server, "ann@example.com")
    totp, codes = enrol(page, server, screenshots)
    page.goto(f"{server.url}/dashboard/account")
    assert "10 of 10 recovery codes left" in page.inner_text("#two-factor")
    page.screenshot(path=screenshots / "account-two-factor-on.png", full_page=True)
    sign_out(page)

    # The password alone no longer opens a session: the second step is asked.
    sign_in(page, server, "ann@example.com")
    assert page.url.endswith("/dashboard/login/code")
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=screenshots / "two-factor-login-code-dark.png", full_page=True)
    assert page.goto(f"{server.url}/dashboard/operations").url.endswith("/dashboard/login")
    sign_in(page, server, "ann@example.com")
    code = totp.now()
    give_code(page, code)
    assert page.url.endswith("/dashboard/operations")
    sign_out(page)

    # The same app code again, within its window: refused.
    sign_in(page, server, "ann@example.com")
    give_code(page, code)
    assert page.url.endswith("/dashboard/login/code")
    assert "Wrong or already used code" in page.inner_text("main")

    # A recovery code works once.
    give_code(page, codes[0])
    assert page.url.endswith("/dashboard/operations")
    page.goto(f"{server.url}/dashboard/account")
    assert "9 of 10 recovery codes left" in page.inner_text("#two-factor")
    sign_out(page)
    sign_in(page, server, "ann@example.com")
    give_code(page, codes[0])
    assert page.url.endswith("/dashboard/login/code")
    assert "Wrong or already used code" in page.inner_text("main")

    # New recovery codes, with a current app code: the old ones stop working.
    give_code(page, codes[1])
    page.goto(f"{server.url}/dashboard/account")
    page.fill("#new-recovery-codes input[name=code]", totp.at(time.time() + 30))
    page.click("#new-recovery-codes button[type=submit]")
    assert page.inner_text("h1") == "New recovery codes"
    new_codes = [c.strip() for c in page.locator("#recovery-codes li").all_inner_texts()]
    assert len(set(new_codes)) == 10 and not set(new_codes) & set(codes)
    page.emulate_media(color_scheme="light")
    page.screenshot(path=screenshots / "two-factor-new-recovery-codes.png", full_page=True)
    page.goto(f"{server.url}/dashboard/account")
    assert "10 of 10 recovery codes left" in page.inner_text("#two-factor")
    page.screenshot(path=screenshots / "account-two-factor-on-new-codes.png", full_page=True)
    sign_out(page)
    sign_in(page, server, "ann@example.com")
    give_code(page, codes[2])
    assert "Wrong or already used code" in page.inner_text("main")
    give_code(page, new_codes[0])
    assert page.url.endswith("/dashboard/operations")
    context.close()


def test_wrong_codes_lock_the_account_until_an_admin_resets_its_two_factor(browser, server, caplog) -> None:
    server.run(create_user(server.gateway, "ann@example.com", PASSWORD, "viewer"))
    server.run(create_user(server.gateway, "boss@example.com", PASSWORD, "admin"))
    ann = browser.new_context().new_page()
    sign_in(ann, server, "ann@example.com")
    totp, _ = enrol(ann, server, None)
    sign_out(ann)

    caplog.set_level(logging.WARNING, logger="postgate.dashboard")
    sign_in(ann, server, "ann@example.com")
    wrong = "000000" if totp.now() != "000000" else "111111"
    for _ in range(dashboard_of(server.gateway).settings.login_attempts):
        give_code(ann, wrong)
        assert "Wrong or already used code" in ann.inner_text("main")
    give_code(ann, totp.now())  # the right code, too late
    assert "This account is locked" in ann.inner_text("main")
    assert any("account ann@example.com locked for 900 s after 5 wrong second-step codes" in r.getMessage()
               for r in caplog.records)

    boss = browser.new_context().new_page()
    sign_in(boss, server, "boss@example.com")
    boss.goto(f"{server.url}/dashboard/users")
    row = boss.locator("tr", has_text="ann@example.com")
    assert "on" in row.inner_text()
    row.locator("text=Reset two-factor").click()
    assert "off" in boss.locator("tr", has_text="ann@example.com").inner_text()

    sign_in(ann, server, "ann@example.com")
    assert ann.url.endswith("/dashboard/operations")  # the password alone again, the lock lifted
