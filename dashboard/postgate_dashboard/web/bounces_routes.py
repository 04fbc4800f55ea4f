"""Routes of the bounce explorer: ``/bounces`` (the groups of a period), ``/bounces/recipients``
(one group's recipients, keyset pages, ``.csv``) and the inline suppress and lift forms, which go
through the Suppressions view's own code (``suppressions_view.add_entry`` / ``lift_entry``), so
the audit trail records them with the dashboard user as the actor."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, abort, g, redirect, request, url_for

from . import analytics_view as av
from . import bounces_view as bv
from . import domain_choice as choice
from . import page_exports as pe
from . import suppressions_view as sv
from .app_state import Dashboard
from .event_reads import parse_cursor
from .table_export import csv_response, safe_filename_part

log = logging.getLogger("postgate.dashboard")

PERIOD_ARGS = ("period", "from", "to")
NOTICES = {"suppressed": "Suppressed: the address is on the list now.", "lifted": "Lifted from the list."}


def add_bounce_routes(bp: Blueprint, dash: Dashboard, render: Callable[..., Awaitable[Response]],
                      signed_in: Callable[..., Any]) -> None:
    """Add the bounce explorer's pages and forms to the blueprint."""

    def domains() -> list[str]:
        return choice.domains(dash.gateway)

    def chosen_domain(args: Any) -> str:
        return choice.chosen_domain(dash.gateway, args)

    def period_of(args: Any) -> av.Period:
        try:
            return av.parse_period({**period_args(args), "res": "day"}, dash.gateway.now())
        except av.PeriodError:
            abort(400)

    def period_args(args: Any) -> dict[str, str]:
        return {k: args.get(k) for k in PERIOD_ARGS if args.get(k)}

    def base_context(args: Any) -> dict[str, Any]:
        return {"page": "bounces", "domains": domains(), "domain": chosen_domain(args),
                "periods": list(av.PERIODS), "resolutions": av.RESOLUTIONS, "error": None, "providers_page": True,
                "picked": {"period": args.get("period") or "7d", "res": "", "from": args.get("from") or "",
                           "to": args.get("to") or ""}}

    def recipients_url(domain: str, group: bv.Group, periods: dict[str, str], **more: str) -> str:
        return url_for("dashboard.bounce_recipients") + "?" + urlencode(
            {"domain": domain, **group.args(), **periods, **more})

    @bp.get("/bounces")
    @signed_in()
    async def bounces() -> Response:
        context = base_context(request.args)
        try:
            period = av.parse_period({**period_args(request.args), "res": "day"}, dash.gateway.now())
        except av.PeriodError as exc:
            return await render("bounces.html", status=400, **{**context, "error": str(exc)})
        context["period"] = period
        context.update(await bv.explorer_page(dash.gateway, context["domain"], period.start, period.end))
        keep = {"domain": context["domain"], **period_args(request.args)}
        context["drill"] = lambda group: url_for("dashboard.bounce_recipients") + "?" + urlencode({**keep, **group})
        context["csv_url"] = lambda table: url_for("dashboard.bounces_csv") + "?" + urlencode({**keep, "table": table})
        return await render("bounces.html", **context)

    @bp.get("/bounces.csv")
    @signed_in()
    async def bounces_csv() -> Response:
        """One of the explorer's group tables (``?table=type|code|provider|groups``) as CSV."""
        try:
            header, make = pe.pick(pe.BOUNCE_TABLES, request.args.get("table"))
        except pe.ExportError:
            abort(400)
        domain, period = chosen_domain(request.args), period_of(request.args)
        page = await bv.explorer_page(dash.gateway, domain, period.start, period.end)
        label = f"{safe_filename_part(domain)}-{av.stamp(period.start, False)}-{av.stamp(period.end, False)}"
        return csv_response(f"bounces-by-{request.args['table']}-{label}.csv", header, pe.stream(make(page)))

    def drill_target(args: Any) -> tuple[str, bv.Group, av.Period]:
        try:
            group = bv.parse_group(args)
        except bv.DrillError:
            abort(400)
        return chosen_domain(args), group, period_of(args)

    @bp.get("/bounces/recipients")
    @signed_in()
    async def bounce_recipients() -> Response:
        domain, group, period = drill_target(request.args)
        try:
            after = parse_cursor(request.args.get("after"), bv.DrillError, "open the group again")
        except bv.DrillError:
            abort(400)
        result = await bv.recipients_page(dash.gateway, domain, group, period.start, period.end, after)
        periods = period_args(request.args)
        return await render(
            "bounce_recipients.html", page="bounces", domain=domain, group=group, period=period,
            label=bv.KIND_LABELS[group.kind], provider_label=bv.LABELS.get(group.provider, ""),
            list_name=bv.target_list(group), rows=result["rows"], periods=periods,
            back_url=url_for("dashboard.bounces") + "?" + urlencode({"domain": domain, **periods}),
            next_url=recipients_url(domain, group, periods, after=result["next_after"]) if result["next_after"] else None,
            first_url=recipients_url(domain, group, periods) if after else None,
            csv_url=url_for("dashboard.bounce_recipients_csv") + "?" + urlencode(
                {"domain": domain, **group.args(), **periods}),
            notice=NOTICES.get(request.args.get("done", "")))

    @bp.get("/bounces/recipients.csv")
    @signed_in()
    async def bounce_recipients_csv() -> Response:
        domain, group, period = drill_target(request.args)
        name = f"bounces-{safe_filename_part(domain)}-{group.kind}.csv"
        return csv_response(name, bv.CSV_HEADER,
                            bv.recipients_csv_rows(dash.gateway, domain, group, period.start, period.end))

    async def change_target() -> tuple[str, bv.Group, dict[str, str], str, Any]:
        form = await request.form
        domain = (form.get("domain") or "").lower()
        if domain not in domains():
            abort(400)
        _, group, _ = drill_target(form)
        try:
            address = sv.checked_address((form.get("address") or "").strip())
        except sv.EntryError:
            abort(400)
        return domain, group, period_args(form), address, form

    @bp.post("/bounces/suppress")
    @signed_in("admin")
    async def bounce_suppress() -> Response:
        domain, group, periods, address, form = await change_target()
        list_name = bv.target_list(group)
        fields = {"address": address}
        if list_name == "bounces":
            fields.update(code=form.get("code", "") if bv.CODE.match(form.get("code", "")) else "",
                          error=(form.get("error") or "")[:sv.MAX_TEXT])
        try:
            entry = sv.parse_entry(domain, list_name, fields, dash.gateway.now())
        except sv.EntryError:
            abort(400)
        await sv.add_entry(dash.gateway, g.dashboard_account.email, entry)
        log.info("dashboard: %s added %s to %s of %s from the bounce explorer", g.dashboard_account.email,
                 address, list_name, domain)
        return redirect(recipients_url(domain, group, periods, done="suppressed"), 303)

    @bp.post("/bounces/lift")
    @signed_in("admin")
    async def bounce_lift() -> Response:
        domain, group, periods, address, _form = await change_target()
        list_name = bv.target_list(group)
        if not await sv.lift_entry(dash.gateway, g.dashboard_account.email, domain, list_name, address):
            abort(404)
        log.info("dashboard: %s lifted %s from %s of %s in the bounce explorer", g.dashboard_account.email,
                 address, list_name, domain)
        return redirect(recipients_url(domain, group, periods, done="lifted"), 303)
