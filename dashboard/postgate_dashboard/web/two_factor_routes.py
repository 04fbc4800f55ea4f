"""Routes of two-factor sign-in: the second sign-in step, the account page where a person turns
two-factor on (QR code, confirmation, recovery codes) or off, and an admin's reset of another's."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from quart import Blueprint, Response, abort, g, redirect, request, url_for
from quart_auth import Action, AuthUser

from . import accounts, csrf, two_factor
from .app_state import Dashboard
from .qr_image import qr_svg_data_uri

log = logging.getLogger("postgate.dashboard")

#: Holds who gave the right password, signed, until the second step is passed.
PENDING_COOKIE = "postgate_dashboard_second_step"
#: How long the second step waits for its code after the password.
PENDING_SECONDS = 300
_SALT = "postgate-dashboard-second-step"


def start_second_step(dash: Dashboard, auth_id: str) -> Response:
    """After the right password of an account with two-factor: remember it (signed cookie) and ask
    for the code."""
    response = redirect(url_for("dashboard.login_code"), 303)
    token = URLSafeTimedSerializer(dash.secret, _SALT).dumps(auth_id)
    response.set_cookie(PENDING_COOKIE, token, max_age=PENDING_SECONDS, path=dash.settings.mount, httponly=True,
                        secure=dash.settings.cookie_secure, samesite="Strict")
    return response


async def pending_account(dash: Dashboard) -> tuple[accounts.Account, str] | None:
    """The account waiting for its second step and its session id, while still valid."""
    token = request.cookies.get(PENDING_COOKIE)
    if not token:
        return None
    try:
        auth_id = URLSafeTimedSerializer(dash.secret, _SALT).loads(token, max_age=PENDING_SECONDS)
    except BadData:  # a wrong or expired signature, or a bad payload
        return None
    account = await accounts.session_account(dash.gateway, auth_id) if isinstance(auth_id, str) else None
    return (account, auth_id) if account is not None and account.two_factor else None


def add_two_factor_routes(bp: Blueprint, dash: Dashboard, render: Callable[..., Awaitable[Response]],
                          signed_in: Callable[..., Any]) -> None:
    """Add ``/login/code``, ``/account`` with its two-factor forms, and the admin's reset."""

    async def code_refused(account: accounts.Account, code: str, wrong: str, *, action: str,
                           totp_only: bool = False) -> tuple[int, str] | None:
        """``None`` when ``code`` is one of the account's; else the status and error to show. Every
        form that takes a code counts like the sign-in's second step: wrong codes fail the client
        address (see ``address_attempts``) and lock the account after ``login_attempts`` of them."""
        address = request.remote_addr or "unknown"
        if dash.throttle.blocked(address):
            log.warning("dashboard: code of %s refused for %s: too many failures from this address",
                        account.email, address)
            return 429, "Too many failed sign-ins from your address. Try again later."
        try:
            passed = await two_factor.check_second_step(
                dash.gateway, dash.totp_box, account.id, code, attempts=dash.settings.login_attempts,
                lockout=dash.settings.lockout_seconds, client=address, action=action, totp_only=totp_only)
        except accounts.Locked:
            dash.throttle.failed(address)
            log.warning("dashboard: code of locked account %s refused (from %s)", account.email, address)
            return 429, "This account is locked after too many wrong codes. Try again later."
        if not passed:
            dash.throttle.failed(address)
            return 401, wrong
        return None

    @bp.route("/login/code", methods=["GET", "POST"])
    async def login_code() -> Response:
        pending = await pending_account(dash)
        if pending is None:
            return redirect(url_for("dashboard.login"), 303)
        account, auth_id = pending
        if request.method == "GET":
            return await render("login_code.html", error=None)
        refused = await code_refused(account, (await request.form).get("code", ""), "Wrong or already used code.",
                                     action="signed in")
        if refused is not None:
            status, error = refused
            return await render("login_code.html", status=status, error=error)
        dash.auth.login_user(AuthUser(auth_id, Action.WRITE))
        g.new_csrf_seed = csrf.new_seed()
        response = redirect(url_for("dashboard.operations"), 303)
        response.delete_cookie(PENDING_COOKIE, path=dash.settings.mount)
        return response

    async def account_page(status: int = 200, error: str | None = None) -> Response:
        me = g.dashboard_account
        left = await two_factor.recovery_codes_left(dash.gateway, me.id) if me.two_factor else 0
        return await render("account.html", status=status, page="account", error=error, codes_left=left)

    @bp.get("/account")
    @signed_in()
    async def account() -> Response:
        return await account_page()

    @bp.post("/account/two-factor")
    @signed_in()
    async def two_factor_start() -> Response:
        if not await two_factor.start_enrollment(dash.gateway, dash.totp_box, g.dashboard_account.id):
            return await account_page(400, "Two-factor sign-in is already on.")
        return redirect(url_for("dashboard.two_factor_setup"), 303)

    async def setup_page(status: int = 200, error: str | None = None) -> Response:
        secret = await two_factor.pending_secret(dash.gateway, dash.totp_box, g.dashboard_account.id)
        if secret is None:
            return redirect(url_for("dashboard.account"), 303)
        uri = two_factor.provisioning_uri(secret, g.dashboard_account.email)
        return await render("two_factor_setup.html", status=status, page="account", error=error, uri=uri,
                            secret=secret, qr=qr_svg_data_uri(uri))

    @bp.get("/account/two-factor")
    @signed_in()
    async def two_factor_setup() -> Response:
        return await setup_page()

    @bp.post("/account/two-factor/confirm")
    @signed_in()
    async def two_factor_confirm() -> Response:
        me = g.dashboard_account
        codes = await two_factor.confirm_enrollment(dash.gateway, dash.totp_box, me.id,
                                                    (await request.form).get("code", ""))
        if codes is None:
            return await setup_page(400, "That code does not fit. Check the clock of your phone and try the next one.")
        log.info("dashboard: %s turned two-factor sign-in on", me.email)
        return await render("recovery_codes.html", page="account", codes=codes)

    @bp.post("/account/two-factor/off")
    @signed_in()
    async def two_factor_off() -> Response:
        me = g.dashboard_account
        if not me.two_factor:
            return redirect(url_for("dashboard.account"), 303)
        refused = await code_refused(me, (await request.form).get("code", ""),
                                     "Wrong or already used code: two-factor sign-in stays on.",
                                     action="confirmed turning two-factor off")
        if refused is not None:
            return await account_page(*refused)
        await two_factor.reset_two_factor(dash.gateway, me.id)
        log.warning("dashboard: %s turned two-factor sign-in off", me.email)
        return redirect(url_for("dashboard.account"), 303)

    @bp.post("/account/two-factor/recovery-codes")
    @signed_in()
    async def two_factor_recovery_codes() -> Response:
        """Ten new recovery codes, after a current code from the app; the old ones stop working."""
        me = g.dashboard_account
        if not me.two_factor:
            return redirect(url_for("dashboard.account"), 303)
        refused = await code_refused(me, (await request.form).get("code", ""),
                                     "Wrong or already used code: your recovery codes stay as they were.",
                                     action="confirmed new recovery codes", totp_only=True)
        if refused is not None:
            return await account_page(*refused)
        codes = await two_factor.replace_recovery_codes(dash.gateway, me.id)
        log.warning("dashboard: %s made new recovery codes (the old ones no longer work)", me.email)
        return await render("recovery_codes.html", page="account", codes=codes, renewed=True)

    @bp.post("/users/<int:user_id>/reset-two-factor")
    @signed_in("admin")
    async def reset_user_two_factor(user_id: int) -> Response:
        if user_id == g.dashboard_account.id:
            abort(400)  # one's own: turned off on the account page, with a code
        await two_factor.reset_two_factor(dash.gateway, user_id)
        log.warning("dashboard: %s reset the two-factor sign-in of account %d", g.dashboard_account.email, user_id)
        return redirect(url_for("dashboard.users"), 303)
