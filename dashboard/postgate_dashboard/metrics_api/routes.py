"""``POST /v1/analytics/metrics``: Mailgun's account metrics, answered from the dashboard's
roll-ups over the domains the caller's API key may use."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, jsonify, request
from quart.typing import ResponseReturnValue

from postgate.errors import BadRequest
from postgate.mailgun.parsing import json_body
from postgate.web import allowed_domains, current_gateway

from ..rollups.buffer import flush
from .answer import answer
from .body import parse_body


async def request_json() -> Any:
    """The body as JSON (``None`` when empty), within :mod:`postgate.limits`' bounds, or a 400."""
    data = await json_body()
    if data is None and (await request.get_data()).strip():
        raise BadRequest("the body is not valid JSON")
    return data


def metrics_blueprint() -> Blueprint:
    blueprint = Blueprint("dashboard_metrics_api", __name__)

    @blueprint.post("/v1/analytics/metrics")
    async def account_metrics() -> ResponseReturnValue:
        gateway: Any = current_gateway()
        query = parse_body(await request_json(), gateway.now())
        await flush(gateway)  # what was recorded a moment ago counts too, as in /v3 stats
        return jsonify(await answer(gateway, query, allowed_domains()))

    return blueprint
