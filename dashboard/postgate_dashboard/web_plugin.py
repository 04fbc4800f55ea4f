"""The dashboard web shell's hooks: its accounts table, settings, routes, command and setup token.
Named ``web_*`` with ``specname`` so other parts of the package can sit beside them."""

from __future__ import annotations

import logging
import weakref
from typing import Any

from postgate import hookimpl

LABEL = "dashboard_auth"
SETTINGS_NAME = "dashboard"

__all__ = ["web_register_commands", "web_register_models", "web_register_routes", "web_register_settings",
           "web_shutdown", "web_startup"]

log = logging.getLogger("postgate.dashboard")
_dashboards: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def dashboard_of(gateway: Any) -> Any:
    """The dashboard serving ``gateway`` (``None`` when its routes were not mounted)."""
    return _dashboards.get(gateway)


@hookimpl(specname="register_models")
def web_register_models(register) -> None:
    register(LABEL, "postgate_dashboard.auth_models", "postgate_dashboard.auth_migrations")


@hookimpl(specname="register_settings")
def web_register_settings(register) -> None:
    from .web.settings import DashboardSettings

    register(SETTINGS_NAME, DashboardSettings)


@hookimpl(specname="register_routes")
def web_register_routes(gateway) -> list[Any]:
    from .web.app_state import Dashboard
    from .web.blueprint import build_blueprint
    from .web.event_polls import poll_blueprint
    from .web.secrets_file import load_or_create_secret
    from .web.session import DashboardAuth
    from .web.throttle import AddressThrottle

    settings = gateway.plugin_settings(SETTINGS_NAME)
    secret = (settings.secret_key.get_secret_value().encode() if settings.secret_key
              else load_or_create_secret(gateway.settings.data_dir))
    dash = Dashboard(gateway=gateway, settings=settings, secret=secret, auth=DashboardAuth(secret, settings),
                     throttle=AddressThrottle(settings.address_attempts, settings.lockout_seconds))
    _dashboards[gateway] = dash
    blueprint = build_blueprint(dash)
    polls = poll_blueprint(dash.polls, gateway, gateway.now)  # on the API's app, wherever the pages are
    if settings.listen:
        from .web.listener import DashboardListener

        dash.listener = DashboardListener(blueprint, settings.mount, settings.listen)
        return [polls]
    return [blueprint, polls]


@hookimpl(specname="startup")
async def web_startup(gateway) -> None:
    from .web.accounts import count_users

    dash = _dashboards.get(gateway)
    if dash is None:
        return
    if dash.listener is not None:
        await dash.listener.start()
    dash.start_sampling()
    if await count_users(gateway):
        return
    token = dash.new_setup_token()
    where = f"{dash.settings.mount}/setup"
    if dash.listener is not None:
        where = f"http://{dash.settings.listen}{where}"
    log.warning("dashboard: no account exists yet. Open %s and enter this one-time setup token "
                "to create the first admin: %s (or run `postgate dashboard create-user EMAIL`)", where, token)


@hookimpl(specname="shutdown")
async def web_shutdown(gateway) -> None:
    dash = _dashboards.get(gateway)
    if dash is None:
        return
    await dash.stop_sampling()
    await dash.polls.close(gateway)
    if dash.listener is not None:
        await dash.listener.stop()


@hookimpl(specname="register_commands")
def web_register_commands(cli) -> None:
    from .web.commands import add_commands

    add_commands(cli)
