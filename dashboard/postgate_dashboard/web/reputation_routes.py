"""Route of the Reputation page, ``/reputation?domain=…``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from quart import Blueprint, Response, request

from .app_state import Dashboard
from .reputation_view import reputation_page


def add_reputation_routes(bp: Blueprint, dash: Dashboard, render: Callable[..., Awaitable[Response]],
                          signed_in: Callable[..., Any]) -> None:
    """Add ``/reputation`` to the blueprint."""

    @bp.get("/reputation")
    @signed_in()
    async def reputation() -> Response:
        domains = sorted(dash.gateway.settings.domain_keys())
        domain = (request.args.get("domain") or "").lower()
        domain = domain if domain in domains else (domains[0] if domains else "")
        context = await reputation_page(dash.gateway, domain) if domain else {"rows": [], "provider": None, "checks": None}
        return await render("reputation.html", page="reputation", domains=domains, domain=domain, **context)
