"""``/v3/domains`` and ``/v4/domains`` (list and get) and tracking settings (contract §8).

Only the domains the caller's key may use are listed. Postgate keeps no per-domain record, so
the fields are fixed: active, custom, created at the epoch, DNS record lists empty. The tracking
settings are the ``domain_tracking`` hook's answer (a tracking plugin's real per-domain state),
else every switch off (Postgate's sending default, §2.7).
"""

from __future__ import annotations

import hashlib
from typing import Any

from quart import current_app, g, jsonify

from ..errors import BadRequest
from ..plugins import call_all
from .parsing import format_date, query_arg

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def add_routes(bp) -> None:
    """Add the domains routes to the Mailgun blueprint."""
    for version in ("v3", "v4"):
        bp.add_url_rule(f"/{version}/domains", f"domains_list_{version}", domains_list, methods=["GET"])
        bp.add_url_rule(f"/{version}/domains/<name>", f"domain_get_{version}", domain_get, methods=["GET"])
    bp.add_url_rule("/v3/domains/<name>/tracking", "domain_tracking", domain_tracking, methods=["GET"])


def domain_record(name: str) -> dict[str, Any]:
    """A domain as Mailgun lists it."""
    return {
        "id": hashlib.sha1(name.encode("utf-8")).hexdigest()[:24],  # noqa: S324 - an id, not security
        "name": name,
        "state": "active",
        "type": "custom",
        "created_at": format_date(0),
        "smtp_login": f"postmaster@{name}",
        "spam_action": "disabled",
        "require_tls": False,
        "skip_verification": False,
        "wildcard": False,
        "web_prefix": "email",
        "web_scheme": "https",
        "is_disabled": False,
    }


def _number(name: str, default: int) -> int:
    value = query_arg(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"invalid {name}") from None
    if number < 0:
        raise BadRequest(f"invalid {name}")
    return number


async def domains_list():
    limit = min(_number("limit", DEFAULT_LIMIT), MAX_LIMIT)
    skip = _number("skip", 0)
    names = sorted(g.allowed_domains)
    return jsonify({
        "total_count": len(names),
        "items": [domain_record(name) for name in names[skip:skip + limit]],
    })


async def domain_get(name: str):
    return jsonify({
        "domain": domain_record(g.domain),
        "receiving_dns_records": [],
        "sending_dns_records": [],
    })


#: What ``GET /v3/domains/<name>/tracking`` answers when no plugin tracks the domain.
TRACKING_OFF: dict[str, Any] = {
    "open": {"active": False, "place_at_the_top": False},
    "click": {"active": False},
    "unsubscribe": {"active": False, "html_footer": "", "text_footer": ""},
}


async def domain_tracking(name: str):
    gateway = current_app.extensions["postgate"]
    answers = await call_all(gateway.pm.hook.domain_tracking, gateway=gateway, domain=g.domain)
    tracking = answers[0] if answers else TRACKING_OFF
    return jsonify({"tracking": tracking})
