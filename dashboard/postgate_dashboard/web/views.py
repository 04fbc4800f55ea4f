"""Routes of the recipient timeline and the suppression lists (filters in the query string, so a
link shows the same rows; keyset pages; streamed CSV)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, abort, g, redirect, request, url_for

from . import domain_choice as choice
from . import suppressions_view as sv
from .app_state import Dashboard
from .table_export import csv_response, safe_filename_part
from .timeline_view import CSV_HEADER, SearchError, parse_search, timeline_csv_rows, timeline_page, when

log = logging.getLogger("postgate.dashboard")

#: Notices a redirect after a change may name (never text from the request).
NOTICES = {"added": "Added.", "lifted": "Lifted.", "imported": "Imported."}


def add_view_routes(bp: Blueprint, dash: Dashboard, render: Callable[..., Awaitable[Response]],
                    signed_in: Callable[..., Any]) -> None:
    """Add ``/timeline`` and ``/suppressions`` (with their ``.csv`` exports) to the blueprint."""

    def domains() -> list[str]:
        return choice.domains(dash.gateway)

    def chosen_domain() -> str:
        return choice.chosen_domain(dash.gateway, request.args)

    @bp.get("/timeline")
    @signed_in()
    async def timeline() -> Response:
        domain = chosen_domain()
        context: dict[str, Any] = {"page": "timeline", "domains": domains(), "domain": domain,
                                   "q": request.args.get("q", ""), "by": request.args.get("by", ""),
                                   "rows": None, "next_url": None, "error": None, "csv_url": None}
        poll = await dash.polls.latest(dash.gateway, domain)
        context["poll"] = {"when": when(poll.at), "agent": poll.user_agent} if poll else None
        try:
            search = parse_search(domains(), request.args)
        except SearchError as exc:
            return await render("timeline.html", status=400, **{**context, "error": str(exc)})
        if search is not None:
            result = await timeline_page(dash.gateway, search)
            filters = {"domain": search.domain, "by": search.kind, "q": search.value}
            context.update(rows=result["rows"], domain=search.domain, by=search.kind,
                           csv_url=url_for("dashboard.timeline_csv") + "?" + urlencode(filters))
            if result["next_after"]:
                context["next_url"] = "?" + urlencode({**filters, "after": result["next_after"]})
            context["first_url"] = "?" + urlencode(filters) if search.after else None
        return await render("timeline.html", **context)

    @bp.get("/timeline.csv")
    @signed_in()
    async def timeline_csv() -> Response:
        try:
            search = parse_search(domains(), request.args)
        except SearchError:
            abort(400)
        if search is None:
            abort(400)
        name = f"timeline-{safe_filename_part(search.domain)}-{safe_filename_part(search.value)}.csv"
        return csv_response(name, CSV_HEADER, timeline_csv_rows(dash.gateway, search))

    def list_filters() -> dict[str, str]:
        list_name = request.args.get("list", "bounces")
        if list_name not in sv.LISTS:
            abort(400)
        prefix = request.args.get("prefix", "").strip()
        if len(prefix) > sv.MAX_ADDRESS:
            abort(400)
        return {"domain": chosen_domain(), "list": list_name, "prefix": prefix}

    async def suppressions_page(filters: dict[str, str], status: int = 200, error: str | None = None,
                                after: str | None = None) -> Response:
        result = await sv.list_page(dash.gateway, filters["domain"], filters["list"], filters["prefix"], after)
        shown = {k: v for k, v in filters.items() if v}
        next_url = "?" + urlencode({**shown, "after": result["next_after"]}) if result["next_after"] else None
        return await render(
            "suppressions.html", status=status, page="suppressions", domains=domains(), lists=sv.LISTS,
            filters=filters, rows=result["rows"], next_url=next_url,
            first_url="?" + urlencode(shown) if after else None,
            csv_url=url_for("dashboard.suppressions_csv") + "?" + urlencode(shown),
            audit=await sv.audit_rows(dash.gateway, filters["domain"]) if filters["domain"] else None,
            audit_rows=sv.AUDIT_ROWS, error=error,
            notice=NOTICES.get(request.args.get("done", "")))

    @bp.get("/suppressions")
    @signed_in()
    async def suppressions() -> Response:
        after = request.args.get("after") or None
        if after is not None and len(after) > sv.MAX_ADDRESS:
            abort(400)
        return await suppressions_page(list_filters(), after=after)

    @bp.get("/suppressions.csv")
    @signed_in()
    async def suppressions_csv() -> Response:
        filters = list_filters()
        name = f"{filters['list']}-{safe_filename_part(filters['domain'])}.csv"
        return csv_response(name, sv.CSV_HEADER[filters["list"]],
                            sv.csv_rows(dash.gateway, filters["domain"], filters["list"], filters["prefix"]))

    async def change_target() -> tuple[dict[str, str], Any]:
        form = await request.form
        domain, list_name = form.get("domain", "").lower(), form.get("list", "")
        if domain not in domains() or list_name not in sv.LISTS:
            abort(400)
        return {"domain": domain, "list": list_name, "prefix": ""}, form

    def back(filters: dict[str, str], done: str) -> Response:
        query = urlencode({"domain": filters["domain"], "list": filters["list"], "done": done})
        return redirect(url_for("dashboard.suppressions") + "?" + query, 303)

    @bp.post("/suppressions/add")
    @signed_in("admin")
    async def add_suppression() -> Response:
        filters, form = await change_target()
        fields = {name: form.get(name, "") for name in ("address", "code", "error", "tags", "reason")}
        try:
            entry = sv.parse_entry(filters["domain"], filters["list"], fields, dash.gateway.now(),
                                   address_may_be_domain=True)
        except sv.EntryError as exc:
            return await suppressions_page(filters, status=400, error=str(exc))
        await sv.add_entry(dash.gateway, g.dashboard_account.email, entry)
        log.info("dashboard: %s added %s to %s of %s", g.dashboard_account.email, entry.address,
                 filters["list"], filters["domain"])
        return back(filters, "added")

    @bp.post("/suppressions/lift")
    @signed_in("admin")
    async def lift_suppression() -> Response:
        filters, form = await change_target()
        address = form.get("address", "")
        if not await sv.lift_entry(dash.gateway, g.dashboard_account.email, filters["domain"], filters["list"],
                                   address):
            return await suppressions_page(filters, status=404, error="That entry is not on the list (any more).")
        log.info("dashboard: %s lifted %s from %s of %s", g.dashboard_account.email, address,
                 filters["list"], filters["domain"])
        return back(filters, "lifted")

    @bp.post("/suppressions/import")
    @signed_in("admin")
    async def import_suppressions() -> Response:
        filters, _form = await change_target()
        upload = (await request.files).get("file")
        if upload is None or not upload.filename:
            return await suppressions_page(filters, status=400, error="Choose a CSV file to import.")
        try:
            count = await sv.import_file(dash.gateway, g.dashboard_account.email, filters["domain"],
                                         filters["list"], upload.stream)
        except sv.EntryError as exc:
            return await suppressions_page(filters, status=400, error=str(exc))
        log.info("dashboard: %s imported %d entries into %s of %s", g.dashboard_account.email, count,
                 filters["list"], filters["domain"])
        return back(filters, "imported")
