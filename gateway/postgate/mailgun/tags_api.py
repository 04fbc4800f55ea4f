"""``/v3/{domain}/tags``: list, get, update, delete, per-tag stats (contract §6).

Listing pages through the query string with the pivot in ``tag``, as mailgun.js expects:
``…/tags?page=next&tag=<pivot>&limit=10`` — exactly one ``?``. ``page`` is ``first``, ``last``,
``next`` or ``prev``; repeated keys take their first value.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from quart import g, jsonify, request

from ..domain import TagInfo
from ..errors import BadRequest, NotFound
from ..web import current_gateway
from .parsing import base_url, query_arg, read_fields
from .stats_api import stats_body

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: Longest tag description stored (a TEXT column holds 64 KiB; four bytes a character at most).
MAX_DESCRIPTION = 4096
AGGREGATES = {"countries": "country", "providers": "provider", "devices": "device"}


def add_routes(bp) -> None:
    """Add the tags routes to the Mailgun blueprint."""
    bp.add_url_rule("/v3/<domain>/tags", "tags_list", tags_list, methods=["GET"])
    bp.add_url_rule("/v3/<domain>/tags/<tag>", "tag_get", tag_get, methods=["GET"])
    bp.add_url_rule("/v3/<domain>/tags/<tag>", "tag_update", tag_update, methods=["PUT"])
    bp.add_url_rule("/v3/<domain>/tags/<tag>", "tag_delete", tag_delete, methods=["DELETE"])
    bp.add_url_rule("/v3/<domain>/tags/<tag>/stats", "tag_stats", tag_stats, methods=["GET"])
    bp.add_url_rule("/v3/<domain>/tags/<tag>/stats/aggregates/<kind>", "tag_aggregates",
                    tag_aggregates, methods=["GET"])


def tag_item(info: TagInfo) -> dict[str, str]:
    return {
        "tag": info.tag,
        "description": info.description,
        "first-seen": _iso(info.first_seen),
        "last-seen": _iso(info.last_seen),
    }


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _limit() -> int:
    value = query_arg("limit")
    if value is None or value == "":
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest("invalid limit") from None
    if limit < 1:
        raise BadRequest("invalid limit")
    return min(limit, MAX_LIMIT)


async def tags_list(domain: str):
    limit = _limit()
    page = (query_arg("page") or "first").lower()
    pivot = query_arg("tag") or None
    prefix = query_arg("prefix") or None
    if page not in ("first", "last", "next", "prev", "previous"):
        raise BadRequest(f"invalid page: {page}")
    if page in ("first", "last"):
        pivot = None
    forward = page in ("first", "next")
    storage = current_gateway().storage
    tags = await storage.list_tags(g.domain, limit=limit, pivot=pivot, forward=forward, prefix=prefix)

    def link(name: str, tag: str | None = None) -> str:
        params = {"page": name}
        if tag is not None:
            params["tag"] = tag
        params["limit"] = str(limit)
        if prefix:
            params["prefix"] = prefix
        return f"{base_url()}/v3/{g.domain}/tags?{urlencode(params)}"

    return jsonify({
        "items": [tag_item(info) for info in tags],
        "paging": {
            "previous": link("prev", tags[0].tag if tags else pivot),
            "first": link("first"),
            "last": link("last"),
            "next": link("next", tags[-1].tag if tags else pivot),
        },
    })


async def _tag(tag: str) -> TagInfo:
    info = await current_gateway().storage.get_tag(g.domain, tag)
    if info is None:
        raise NotFound("Tag not found")
    return info


async def tag_get(domain: str, tag: str):
    return jsonify(tag_item(await _tag(tag)))


async def tag_update(domain: str, tag: str):
    fields, _ = await read_fields()
    description = fields.get("description")
    if description is None:
        description = request.args.get("description")
    if description is None:
        raise BadRequest("'description' parameter is missing")
    if len(description) > MAX_DESCRIPTION:
        raise BadRequest(f"'description' parameter is longer than {MAX_DESCRIPTION} characters")
    if not await current_gateway().storage.update_tag(g.domain, tag, description):
        raise NotFound("Tag not found")
    return jsonify({"message": "Tag updated"})


async def tag_delete(domain: str, tag: str):
    if not await current_gateway().storage.delete_tag(g.domain, tag):
        raise NotFound("Tag not found")
    return jsonify({"message": "Tag deleted"})


async def tag_stats(domain: str, tag: str):
    info = await _tag(tag)
    body = await stats_body([g.domain], tag=info.tag)
    return jsonify({"tag": info.tag, "description": info.description, **body})


async def tag_aggregates(domain: str, tag: str, kind: str):
    """Countries, providers and devices: Postgate records none, so each map is empty."""
    if kind not in AGGREGATES:
        raise NotFound("Not Found")
    info = await _tag(tag)
    return jsonify({"tag": info.tag, AGGREGATES[kind]: {}})
