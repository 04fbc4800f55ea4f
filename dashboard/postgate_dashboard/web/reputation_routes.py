"""Routes of the Reputation page, ``/reputation?domain=…``, and its CSV export ``/reputation.csv``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from urllib.parse import urlencode

from quart import Blueprint, Response, abort, request, url_for

from . import domain_choice as choice
from . import page_exports as pe
from .app_state import Dashboard
from .reputation_view import rate_rows, reputation_page
from .table_export import csv_response, safe_filename_part


def add_reputation_routes(bp: Blueprint, dash: Dashboard, render: Callable[..., Awaitable[Response]],
                          signed_in: Callable[..., Any]) -> None:
    """Add ``/reputation`` and ``/reputation.csv`` to the blueprint."""

    @bp.get("/reputation")
    @signed_in()
    async def reputation() -> Response:
        domains, domain = choice.domains(dash.gateway), choice.chosen_domain(dash.gateway, request.args)
        context = await reputation_page(dash.gateway, domain) if domain else {"rows": [], "provider": None, "checks": None}
        csv_url = url_for("dashboard.reputation_csv") + "?" + urlencode({"domain": domain}) if domain else None
        return await render("reputation.html", page="reputation", domains=domains, domain=domain, csv_url=csv_url,
                            **context)

    @bp.get("/reputation.csv")
    @signed_in()
    async def reputation_csv() -> Response:
        """The page's rates per window, with their counts and standing, as CSV."""
        domain = choice.chosen_domain(dash.gateway, request.args)
        if not domain:
            abort(404)
        rows = await rate_rows(dash.gateway, domain, dash.gateway.now())
        return csv_response(f"reputation-{safe_filename_part(domain)}.csv", pe.REPUTATION_HEADER,
                            pe.stream(pe.reputation_rows({"rows": rows})))
