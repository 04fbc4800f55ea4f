"""Mailgun's ``PUT /v3/domains/<name>/tracking/open|click|unsubscribe`` (form field ``active``:
``yes``, ``no``, ``true``, ``false``, and ``htmlonly`` for clicks; ``place_at_the_top`` for opens).

The core authenticates the request and checks the domain; the change is stored in
``tracking_domains`` (see :mod:`domain_switches`) and the answer is Mailgun's: ``{"message":
"Domain tracking settings updated", "<kind>": {…}}`` with the switch as it now applies. Switching
a kind on for a domain the plugin cannot mark (no tracking host or no signing key) is refused,
so the API never shows tracking that does not happen. Postgate adds no unsubscribe footer, so a
non-empty ``html_footer`` or ``text_footer`` is refused too.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, jsonify, request

from postgate import Gateway
from postgate.errors import BadRequest, NotFound
from postgate.web import request_domain

from .domain_switches import can_switch_on, mailgun_view, parse_switch, store, switches
from .state import tracking_for

UPDATED = "Domain tracking settings updated"
#: Form field -> stored column, per kind.
FIELDS = {
    "open": {"active": "opens", "place_at_the_top": "pixel_top"},
    "click": {"active": "clicks"},
    "unsubscribe": {"active": "unsubscribe"},
}


def changes_of(kind: str, form: Any) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for field, column in FIELDS[kind].items():
        value = form.get(field)
        if value is None:
            continue  # omitted: kept as it is
        try:
            changes[column] = parse_switch(value, htmlonly=column == "clicks")
        except ValueError as exc:
            raise BadRequest(f"{field}: {exc}") from None
    if kind == "unsubscribe" and (form.get("html_footer") or form.get("text_footer")):
        raise BadRequest("Postgate adds no unsubscribe footer: put %unsubscribe_url% in the message instead")
    return changes


def tracking_api_blueprint(gateway: Gateway) -> Blueprint:
    bp = Blueprint("tracking_api", __name__)

    @bp.put("/v3/domains/<name>/tracking/<kind>")
    async def update(name: str, kind: str):
        form = await request.form  # read first: an unread body would cost the client its connection
        if kind not in FIELDS:
            raise NotFound("Not found")
        domain = request_domain() or name.lower()
        state = tracking_for(gateway)
        changes = changes_of(kind, form)
        switching_on = any(value for column, value in changes.items() if column != "pixel_top")
        if switching_on and not can_switch_on(state, await switches(gateway, state, domain), kind):
            also = " or an unsubscribe_mail_domain" if kind == "unsubscribe" else ""
            raise BadRequest(f"{kind} tracking needs a tracking host{also} for {domain}: set base_url{also} in "
                             "[plugins.tracking] (and a signing key)")
        if changes:
            await store(gateway, domain, changes)
        view = mailgun_view(state, await switches(gateway, state, domain))
        return jsonify({"message": UPDATED, kind: view[kind]})

    return bp
