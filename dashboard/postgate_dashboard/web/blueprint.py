"""The dashboard's routes: sign-in, setup, sign-out, users and the pages, behind CSRF checks and
security headers."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from quart import Blueprint, Response, abort, g, redirect, request, url_for
from quart_auth import Action, AuthUser
from werkzeug.exceptions import HTTPException

from ..page_hooks import add_page_hooks
from . import accounts, csrf, trusted_header
from . import page_exports as pe
from .app_state import Dashboard
from .event_stream import EventStream, Frame, event_stream_response
from .headers import SECURITY_HEADERS
from .operations_view import operations_page
from .plugin_pages import PluginPages
from .table_export import csv_response
from .analytics_routes import add_analytics_routes
from .bounces_routes import add_bounce_routes
from .reputation_routes import add_reputation_routes
from .two_factor_routes import add_two_factor_routes, start_second_step
from .views import add_view_routes

log = logging.getLogger("postgate.dashboard")

Handler = Callable[..., Awaitable[Any]]

def server_timing(seconds: float) -> str:
    """The ``Server-Timing`` value of a page: ``app`` is the time from the session check to the
    rendered page, in milliseconds (a streamed body's time is not in it)."""
    return f"app;dur={seconds * 1000:.2f}"


def client_address() -> str:
    return request.remote_addr or "unknown"


def build_blueprint(dash: Dashboard) -> Blueprint:
    """The blueprint for one gateway's dashboard, mounted at ``dash.settings.mount``."""
    bp = Blueprint("dashboard", __name__, url_prefix=dash.settings.mount, static_folder="static",
                   static_url_path="/static")
    bp.record_once(lambda state: dash.auth.init_app(state.app))

    def session_id() -> str | None:
        return dash.auth.load_user().auth_id

    async def render(name: str, status: int = 200, **context: Any) -> Response:
        template = dash.templates.get_template(name)
        body = await template.render_async(
            account=g.get("dashboard_account"), csrf_token=g.get("csrf_token", ""), url_for=url_for,
            via_proxy=g.get("via_proxy", False), plugin_nav=pages.nav, request_blueprint=request.blueprint,
            **context)
        return Response(body, status=status, content_type="text/html; charset=utf-8")

    async def setup_open() -> bool:
        """Whether the setup page still works: a token and no account (one made from the command
        line closes it)."""
        if dash.setup_token is not None and await accounts.count_users(dash.gateway):
            dash.setup_token = None
        return dash.setup_token is not None

    def signed_in(role: str | None = None) -> Callable[[Handler], Handler]:
        def wrap(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def guarded(*args: Any, **kwargs: Any) -> Any:
                account = g.get("dashboard_account")
                if account is None:
                    return redirect(url_for("dashboard.login"), 303)
                if role is not None and account.role != role:
                    abort(403)
                return await handler(*args, **kwargs)
            return guarded
        return wrap

    async def load_account() -> None:
        """``g.dashboard_account`` and ``g.session_id`` (what CSRF tokens are bound to): from the
        proxy's header when it is on and comes from a trusted proxy, else from the session cookie."""
        peer = request.remote_addr
        email = trusted_header.claimed_email(dash.settings, request.headers, peer)
        if email is not None:
            account = await trusted_header.proxy_account(dash.gateway, dash.settings, email, peer)
            if account is None:
                g.dashboard_account, g.session_id = None, None
                abort(403)
            g.dashboard_account, g.session_id, g.via_proxy = account, f"proxy:{account.email}", True
            return
        g.dashboard_account = await accounts.session_account(dash.gateway, session_id())
        g.session_id = session_id() if g.dashboard_account else None

    @bp.before_request
    async def load_session_and_check_csrf() -> None:
        g.dashboard_started = time.perf_counter()
        g.csrf_token = ""
        if request.endpoint == "dashboard.static":
            return  # the stylesheet and script need no session
        await load_account()
        seed = request.cookies.get(csrf.SEED_COOKIE)
        if not seed:
            seed = g.new_csrf_seed = csrf.new_seed()
        g.csrf_token = csrf.token_for(dash.secret, seed, g.session_id)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            form = await request.form
            if not csrf.valid(dash.secret, request.cookies.get(csrf.SEED_COOKIE), g.session_id, form.get(csrf.FIELD)):
                log.warning("dashboard: %s %s refused: missing or wrong CSRF token (from %s)",
                            request.method, request.path, client_address())
                abort(403)

    @bp.before_request
    async def plugin_pages_need_an_account() -> Response | None:
        """Every page a plugin adds is for signed-in accounts only, whatever the plugin checks."""
        if pages.serves(request.blueprint) and g.get("dashboard_account") is None:
            return redirect(url_for("dashboard.login"), 303)
        return None

    @bp.after_request
    async def secure_response(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        seed = g.get("new_csrf_seed")
        if seed:
            response.set_cookie(csrf.SEED_COOKIE, seed, path=dash.settings.mount, httponly=True,
                                secure=dash.settings.cookie_secure, samesite="Strict")
        started = g.get("dashboard_started")
        if started is not None:
            response.headers["Server-Timing"] = server_timing(time.perf_counter() - started)
        return response

    @bp.errorhandler(HTTPException)
    async def html_error(error: HTTPException) -> Response:
        return await render("error.html", status=error.code or 500, code=error.code,
                            title=error.name, description=_error_text(error.code))

    @bp.get("/")
    async def index() -> Response:
        if g.dashboard_account is None:
            return redirect(url_for("dashboard.setup" if await setup_open() else "dashboard.login"), 303)
        return redirect(url_for("dashboard.overview"), 303)

    @bp.route("/login", methods=["GET", "POST"])
    async def login() -> Response:
        if request.method == "GET":
            return await render("login.html", error=None, email="", setup_pending=await setup_open())
        form = await request.form
        email, password = form.get("email", ""), form.get("password", "")
        address = client_address()
        if dash.throttle.blocked(address):
            log.warning("dashboard: sign-in refused for %s: too many failures from this address", address)
            return await render("login.html", status=429, email=email,
                                error="Too many failed sign-ins from your address. Try again later.")
        try:
            result = await accounts.verify_login(
                dash.gateway, email, password, attempts=dash.settings.login_attempts,
                lockout=dash.settings.lockout_seconds, client=address)
        except accounts.Locked:
            dash.throttle.failed(address)
            log.warning("dashboard: sign-in to locked account %r refused (from %s)", email, address)
            return await render("login.html", status=429, email=email,
                                error="This account is locked after too many wrong passwords. Try again later.")
        if result is None:
            dash.throttle.failed(address)
            return await render("login.html", status=401, email=email, error="Wrong email or password.")
        account, auth_id = result
        if account.two_factor:
            return start_second_step(dash, auth_id)
        dash.auth.login_user(AuthUser(auth_id, Action.WRITE))
        g.new_csrf_seed = csrf.new_seed()  # a fresh seed for the new session
        return redirect(url_for("dashboard.operations"), 303)

    @bp.post("/logout")
    @signed_in()
    async def logout() -> Response:
        await accounts.end_sessions(dash.gateway, g.dashboard_account.id)
        dash.auth.logout_user()
        log.info("dashboard: %s signed out", g.dashboard_account.email)
        return redirect(url_for("dashboard.login"), 303)

    @bp.route("/setup", methods=["GET", "POST"])
    async def setup() -> Response:
        if not await setup_open():
            abort(404)
        if request.method == "GET":
            return await render("setup.html", error=None, email="")
        form = await request.form
        email, password = form.get("email", ""), form.get("password", "")
        try:
            accounts.normal_email(email)
            accounts.check_password(password)
            if password != form.get("password_again", ""):
                raise accounts.AccountError("the two passwords differ")
        except accounts.AccountError as exc:
            return await render("setup.html", status=400, error=str(exc), email=email)
        if not dash.take_setup_token(form.get("token", "")):
            log.warning("dashboard: setup refused: wrong or used setup token (from %s)", client_address())
            return await render("setup.html", status=403, error="Wrong or used setup token.", email=email)
        await accounts.create_user(dash.gateway, email, password, "admin")
        return redirect(url_for("dashboard.login"), 303)

    async def operations_context() -> dict[str, Any]:
        return await operations_page(dash.gateway, dash.settings.events_silence_seconds,
                                     dash.settings.worker_alive_seconds)

    def operations_csv_urls() -> dict[str, str]:
        """The exports' links, made in the request (a live update renders outside of it)."""
        return {table: url_for("dashboard.operations_csv", table=table) for table in pe.OPERATIONS_TABLES}

    @bp.get("/operations")
    @signed_in()
    async def operations() -> Response:
        return await render("operations.html", page="operations", refresh=10, csv_url=operations_csv_urls(),
                            **await operations_context())

    @bp.get("/operations.csv")
    @signed_in()
    async def operations_csv() -> Response:
        """One of the Operations page's tables (``?table=state|newsletters|workers``) as CSV."""
        try:
            header, make = pe.pick(pe.OPERATIONS_TABLES, request.args.get("table"))
        except pe.ExportError:
            abort(400)
        return csv_response(f"operations-{request.args['table']}.csv", header,
                            pe.stream(make(await operations_context())))

    @bp.get("/operations/live")
    @signed_in()
    async def operations_live() -> Response:
        fragment = dash.templates.get_template("operations_live.html")
        csv_url = operations_csv_urls()

        async def update() -> Frame:
            context = await operations_context()
            return Frame({"html": await fragment.render_async(url_for=url_for, csv_url=csv_url, **context)})

        return event_stream_response(EventStream(update, dash.live_interval, dash.settings.live_stream_seconds))

    @bp.get("/users")
    @signed_in()
    async def users() -> Response:
        return await render("users.html", page="users", users=await accounts.list_users(dash.gateway),
                            error=None)

    @bp.post("/users")
    @signed_in("admin")
    async def add_user() -> Response:
        form = await request.form
        try:
            await accounts.create_user(dash.gateway, form.get("email", ""), form.get("password", ""),
                                       form.get("role", ""))
        except accounts.AccountError as exc:
            return await render("users.html", status=400, page="users", error=str(exc),
                                users=await accounts.list_users(dash.gateway))
        log.info("dashboard: %s added account %s", g.dashboard_account.email, form.get("email", ""))
        return redirect(url_for("dashboard.users"), 303)

    @bp.post("/users/<int:user_id>/delete")
    @signed_in("admin")
    async def remove_user(user_id: int) -> Response:
        if user_id == g.dashboard_account.id:
            abort(400)
        await accounts.delete_user(dash.gateway, user_id)
        log.info("dashboard: %s removed account %d", g.dashboard_account.email, user_id)
        return redirect(url_for("dashboard.users"), 303)

    add_two_factor_routes(bp, dash, render, signed_in)
    add_view_routes(bp, dash, render, signed_in)
    add_analytics_routes(bp, dash, render, signed_in)
    add_bounce_routes(bp, dash, render, signed_in)
    add_reputation_routes(bp, dash, render, signed_in)
    pages = PluginPages(bp.name, render)
    add_page_hooks(dash.gateway.pm)
    dash.gateway.pm.hook.dashboard_pages(gateway=dash.gateway, pages=pages)
    pages.mount_on(bp, dash.templates)
    return bp


def _error_text(code: int | None) -> str:
    return {
        400: "The request could not be understood.",
        403: "You may not do this: your role does not allow it, or the form expired (reload and retry).",
        404: "There is no such page.",
    }.get(code or 0, "Something went wrong.")
