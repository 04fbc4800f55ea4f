"""Essential built-in plugin: the Mailgun v3 HTTP API, at the root of the origin."""

from __future__ import annotations

from quart import Blueprint

from ..hookspecs import hookimpl
from . import domains_api, events_api, messages_api, stats_api, suppressions_api, tags_api


def mailgun_blueprint(gateway) -> Blueprint:
    """Every Mailgun route, in one blueprint (fresh per app)."""
    bp = Blueprint("mailgun", __name__)
    for module in (messages_api, events_api, suppressions_api, domains_api, stats_api, tags_api):
        module.add_routes(bp)
    return bp


@hookimpl(trylast=True)
def register_ingress(register):
    register("mailgun", mailgun_blueprint)
