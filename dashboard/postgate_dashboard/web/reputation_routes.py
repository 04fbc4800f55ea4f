"""Route of the Reputation page, ``/reputation?domain=…``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from quart import Blueprint, Response, request

from . import domain_choice as choice
from .app_state import Dashboard
from .reputation_view import reputation_page


def add_reputation_routes(bp: Blueprint, dash: Dashboard, render: Callable[..., Awaitable[Response]],
                          signed_in: Callable[..., Any]) -> None:
    """Add ``/reputation`` to the blueprint."""

    @bp.get("/reputation")
    @signed_in()
    async def reputation() -> Response:
        domains, domain = choice.domains(dash.gateway), choice.chosen_domain(dash.gateway, request.args)
        context = await reputation_page(dash.gateway, domain) if domain else {"rows": [], "provider": None, "checks": None}
        return await render("reputation.html", page="reputation", domains=domains, domain=domain, **context)
