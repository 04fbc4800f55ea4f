"""The blueprint mounted on the public app: request metrics for every route, and ``/metrics``
behind a bearer token when ``token_env`` is set."""

from __future__ import annotations

import hmac
import time

from quart import Blueprint, Response, g, jsonify, request

from postgate import Gateway

from .exporter import CONTENT_TYPE, exporter_for

#: Longest ``Authorization`` header read; anything longer is refused unread.
MAX_AUTHORIZATION = 4096


def bearer_token(header: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or ``None`` for anything else."""
    if not header or len(header) > MAX_AUTHORIZATION:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def token_matches(sent: str | None, expected: str) -> bool:
    return sent is not None and hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode())


def unauthorized() -> Response:
    response = jsonify({"message": "metrics need 'Authorization: Bearer <token>' with the configured token"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="postgate-metrics"'
    return response


def metrics_blueprint(gateway: Gateway) -> Blueprint:
    """Request metrics for the whole app, plus ``/metrics`` when a token is configured."""
    exporter = exporter_for(gateway)
    exporter.serves_app = True  # this process serves the API: it starts the separate listener too
    blueprint = Blueprint("metrics", __name__)

    @blueprint.before_app_request
    async def start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @blueprint.after_app_request
    async def count_request(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            rule = request.url_rule.rule if request.url_rule is not None else None
            exporter.instruments.http_request(rule, request.method, response.status_code,
                                              time.perf_counter() - started)
        return response

    token = exporter.settings.token()
    if token is not None:

        @blueprint.get("/metrics")
        async def public_metrics() -> Response:
            if not token_matches(bearer_token(request.headers.get("Authorization")), token):
                return unauthorized()
            return Response(await exporter.render(gateway), content_type=CONTENT_TYPE)

    return blueprint
