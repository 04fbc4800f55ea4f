"""Routes of the analytics pages: ``/overview``, ``/sends``, ``/send`` and ``/providers``
(the domain, period, page and human/all toggle in the query string, so a link shows the same
figures)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, abort, request, url_for

from . import analytics_view as av
from . import domain_choice as choice
from . import engaged_view as ev
from . import page_exports as pe
from .app_state import Dashboard
from .event_reads import parse_cursor
from .event_stream import EventStream, Frame, event_stream_response
from .table_export import csv_response, safe_filename_part


def add_analytics_routes(bp: Blueprint, dash: Dashboard, render: Callable[..., Awaitable[Response]],
                         signed_in: Callable[..., Any]) -> None:
    """Add the overview, the sends list, one send and the providers page to the blueprint."""

    def domains() -> list[str]:
        return choice.domains(dash.gateway)

    def chosen_domain() -> str:
        return choice.chosen_domain(dash.gateway, request.args)

    def period_context(page: str) -> tuple[dict[str, Any], av.Period | None]:
        args = request.args
        context: dict[str, Any] = {
            "page": page, "domains": domains(), "domain": chosen_domain(), "periods": list(av.PERIODS),
            "resolutions": av.RESOLUTIONS, "error": None, "providers_page": page == "providers",
            "picked": {"period": args.get("period") or "7d", "res": args.get("res") or "",
                       "from": args.get("from") or "", "to": args.get("to") or ""},
            "whos": av.WHO, "who": "human"}
        try:
            context["who"] = av.parse_who(args)
            period = av.parse_period(args, dash.gateway.now())
        except av.PeriodError as exc:
            context["error"] = str(exc)
            return context, None
        context["picked"]["res"] = period.resolution
        context["period"] = period
        kept = {"domain": context["domain"], **{k: args[k] for k in ("period", "from", "to", "res") if args.get(k)}}
        context["csv_url"] = url_for(f"dashboard.{page}_csv") + "?" + urlencode(kept)
        return context, period

    @bp.get("/overview")
    @signed_in()
    async def overview() -> Response:
        context, period = period_context("overview")
        if period is None:
            return await render("overview.html", status=400, **context)
        context.update(await av.overview_page(dash.gateway, context["domain"], period, context["who"]))
        return await render("overview.html", **context)

    @bp.get("/providers")
    @signed_in()
    async def providers() -> Response:
        context, period = period_context("providers")
        if period is None:
            return await render("providers.html", status=400, **context)
        context.update(await av.providers_page(dash.gateway, context["domain"], period, context["who"]))
        return await render("providers.html", **context)

    def sends_filters() -> dict[str, str]:
        try:
            who = av.parse_who(request.args)
        except av.PeriodError:
            abort(400)
        return {"domain": chosen_domain(), "who": who}

    def period_export(page: str, name: str, make: Callable[..., Awaitable[Any]]) -> Callable[[], Awaitable[Response]]:
        async def export() -> Response:
            context, period = period_context(page)
            if period is None:
                abort(400)
            header, rows = await make(dash.gateway, context["domain"], period)
            label = f"{safe_filename_part(context['domain'])}-{av.stamp(period.start, False)}-{av.stamp(period.end, False)}"
            return csv_response(f"{name}-{label}.csv", header, rows)
        return export

    bp.add_url_rule("/overview.csv", "overview_csv", signed_in()(period_export("overview", "overview", av.overview_csv)))
    bp.add_url_rule("/providers.csv", "providers_csv",
                    signed_in()(period_export("providers", "providers", av.providers_csv)))

    @bp.get("/sends")
    @signed_in()
    async def sends() -> Response:
        filters = sends_filters()
        try:
            before = parse_cursor(request.args.get("before"), av.PeriodError, "start again from the first page")
        except av.PeriodError:
            abort(400)
        result = await av.sends_page(dash.gateway, filters["domain"], before, filters["who"])
        next_url = "?" + urlencode({**filters, "before": result["next_cursor"]}) if result["next_cursor"] else None
        return await render("sends.html", page="sends", domains=domains(), rows=result["rows"], whos=av.WHO,
                            next_url=next_url, first_url="?" + urlencode(filters) if before else None,
                            csv_url=url_for("dashboard.sends_csv") + "?" + urlencode(filters), **filters)

    @bp.get("/sends.csv")
    @signed_in()
    async def sends_csv() -> Response:
        filters = sends_filters()
        name = f"newsletters-{safe_filename_part(filters['domain'])}-{filters['who']}.csv"
        return csv_response(name, av.sends_csv_header(filters["who"]),
                            av.sends_csv_rows(dash.gateway, filters["domain"], filters["who"]))

    def send_key() -> str:
        key = request.args.get("key", "")
        if not key or len(key) > 255:
            abort(400)
        return key

    @bp.get("/send/live")
    @signed_in()
    async def send_live() -> Response:
        """The send's progress over Server-Sent Events while it goes out; ends once it has."""
        domain, key = chosen_domain(), send_key()
        found, email_id = await av.send_email_id(dash.gateway, domain, key)
        if not found:
            abort(404)

        async def update() -> Frame:
            data = av.progress_update(av.newsletter_of(await dash.gateway.operations_snapshot(), domain, email_id))
            return Frame(data, event="finished", last=True) if data["finished"] else Frame(data)

        return event_stream_response(EventStream(update, dash.live_interval, dash.settings.live_stream_seconds))

    @bp.get("/send/curve")
    @signed_in()
    async def send_curve() -> Response:
        """The progress curve of a send, and its funnel to swap in beside it, as an HTML fragment
        (what the live page swaps in); both from one read, so they agree."""
        domain, key = chosen_domain(), send_key()
        try:
            who = av.parse_who(request.args)
        except av.PeriodError:
            abort(400)
        figures = await av.send_figures(dash.gateway, domain, key, who)
        if figures is None:
            abort(404)
        return await render("_send_curve.html", fresh_funnel=True, **figures)

    async def engaged_list() -> ev.Engaged:
        domain, key = chosen_domain(), send_key()
        try:
            who = av.parse_who(request.args)
            engaged = await ev.parse_engaged(dash.gateway, domain, key, request.args, who)
        except (av.PeriodError, ev.EngagedError):
            abort(400)
        if engaged is None:
            abort(404)
        return engaged

    @bp.get("/send/engaged")
    @signed_in()
    async def send_engaged() -> Response:
        """Who opened (or clicked) the send: its events, newest first, keyset pages."""
        engaged = await engaged_list()
        try:
            after = parse_cursor(request.args.get("after"), av.PeriodError, "start again from the first page")
        except av.PeriodError:
            abort(400)
        result = await ev.engaged_page(dash.gateway, engaged, after)
        filters = engaged.args()
        return await render(
            "send_engaged.html", page="sends", engaged=engaged, rows=result["rows"], kinds=ev.KINDS, whos=av.WHO,
            next_url="?" + urlencode({**filters, "after": result["next_after"]}) if result["next_after"] else None,
            first_url="?" + urlencode(filters) if after else None,
            csv_url=url_for("dashboard.send_engaged_csv") + "?" + urlencode(filters))

    @bp.get("/send/engaged.csv")
    @signed_in()
    async def send_engaged_csv() -> Response:
        engaged = await engaged_list()
        name = f"{engaged.kind}-{safe_filename_part(engaged.domain)}-{safe_filename_part(engaged.key)}-{engaged.who}.csv"
        return csv_response(name, ev.CSV_HEADER, ev.engaged_csv_rows(dash.gateway, engaged))

    @bp.get("/send")
    @signed_in()
    async def send() -> Response:
        domain, key = chosen_domain(), send_key()
        try:
            who = av.parse_who(request.args)
        except av.PeriodError:
            abort(400)
        context = await av.send_page(dash.gateway, domain, key, who)
        if context is None:
            abort(404)
        filters = {"domain": domain, "key": key, "who": who}
        csv_url = {table: url_for("dashboard.send_csv") + "?" + urlencode({**filters, "table": table})
                   for table in pe.SEND_TABLES}
        return await render("send.html", page="sends", domain=domain, key=key, who=who, whos=av.WHO,
                            csv_url=csv_url, **context)

    @bp.get("/send.csv")
    @signed_in()
    async def send_csv() -> Response:
        """The send's funnel or top links (``?table=funnel|links``) as CSV."""
        domain, key = chosen_domain(), send_key()
        try:
            who = av.parse_who(request.args)
            header, make = pe.pick(pe.SEND_TABLES, request.args.get("table"))
        except (av.PeriodError, pe.ExportError):
            abort(400)
        tables = await av.send_tables(dash.gateway, domain, key, who)
        if tables is None:
            abort(404)
        name = f"{request.args['table']}-{safe_filename_part(domain)}-{safe_filename_part(key)}-{who}.csv"
        return csv_response(name, header, pe.stream(make(tables)))
