"""Built-in plugin: liveness (``/healthcheck``) and readiness (``/health/ready``) endpoints."""

from __future__ import annotations

from quart import Blueprint, jsonify

from ..hookspecs import hookimpl

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthcheck")
async def liveness():
    """The process answers. Says nothing about backends and nothing secret."""
    return jsonify({"status": "ok"})


@blueprint.get("/health/ready")
async def readiness():
    """Probe storage, queue, delivery and plugin checks for real; 503 if any fails."""
    from ..web import current_gateway

    checks = await current_gateway().readiness()
    ready = all(result == "ok" for result in checks.values())
    response = jsonify({"status": "ok" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    return response


@hookimpl(trylast=True)
def register_routes(gateway):
    return [blueprint]
