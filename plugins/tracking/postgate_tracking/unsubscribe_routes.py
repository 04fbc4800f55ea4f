"""The unsubscribe endpoint ``/t/u/<token>``: ``POST`` unsubscribes (RFC 8058 one-click, or the
confirmation page's form), ``GET`` shows that page and changes nothing.

An unsubscribe is stored before it is answered: the ``unsubscribes`` entry first (every tag for a
domain or mailing-list link, the message's tags for a tag link, widened and never narrowed), then
a Mailgun ``unsubscribed`` event through ``gateway.record_events`` with the batch's tags, user
variables and message id. The event key is fixed per recipient and scope, so a repeated
unsubscribe records nothing new. The core's suppression listener sees the new event and writes the
same entry again (it merges with the one already there), so nothing is added twice.
"""

from __future__ import annotations

import asyncio
import time

from quart import Blueprint, Response, jsonify, render_template, request

from postgate import Gateway, Recipient, Suppression

from .clients import describe_client
from .recording import BatchInfo
from .routes import MAX_USER_AGENT, NO_CACHE, client_ip, not_found
from .state import Tracking, tracking_for
from .unsubscribe import DOMAIN, MAILING_LIST, ONE_CLICK, UnsubscribeClaim, verify

EVERY_TAG = "*"


async def resolve(state: Tracking, token: str) -> tuple[UnsubscribeClaim, BatchInfo, Recipient] | None:
    """The claim, batch and ledger row of a genuine token, or ``None`` (nothing read for a bad one)."""
    claim = verify(state.signer, token) if state.signer is not None else None
    if claim is None:
        return None
    info = await state.recorder.batch(claim.batch_id)
    if info is None:
        return None
    rows = await state.recorder.gateway.storage.get_recipients([claim.recipient_id])
    if not rows or rows[0].batch_id != claim.batch_id:
        return None
    return claim, info, rows[0]


def scope_name(claim: UnsubscribeClaim) -> str:
    return {DOMAIN: "domain", MAILING_LIST: "mailing-list"}.get(claim.scope, "tags")


def merged_tags(existing: Suppression | None, tags: list[str]) -> list[str]:
    """The entry's tags after this unsubscribe: ``*`` absorbs everything, others are added."""
    if existing is None:
        return tags or [EVERY_TAG]
    old = list(existing.tags) or [EVERY_TAG]
    if EVERY_TAG in old or not tags:
        return [EVERY_TAG]
    seen = {tag.lower() for tag in old}
    return old + [tag for tag in tags if tag.lower() not in seen]


async def add_unsubscribe(gateway: Gateway, domain: str, address: str, tags: list[str]) -> None:
    """Put ``address`` on the domain's unsubscribes for ``tags`` (every tag when empty)."""
    found = await gateway.storage.find_suppressions(domain, [address])
    existing = next((entry for entry in found if entry.list == "unsubscribes"
                     and entry.address.strip().lower() == address.lower()), None)
    wanted = merged_tags(existing, tags)
    if existing is not None and wanted == list(existing.tags):
        return
    await gateway.storage.add_suppressions([Suppression(domain, "unsubscribes", address, tags=wanted,
                                                        created_at=time.time())])


async def unsubscribe(state: Tracking, claim: UnsubscribeClaim, info: BatchInfo, recipient: Recipient) -> None:
    """Store the unsubscribe: the list entry, then the ``unsubscribed`` event (idempotent)."""
    gateway = state.recorder.gateway
    await add_unsubscribe(gateway, info.batch.domain.lower(), recipient.address, claim.tags(list(info.batch.tags)))
    user_agent = request.headers.get("User-Agent", "")[:MAX_USER_AGENT]
    client = await asyncio.to_thread(describe_client, user_agent, client_ip(state.settings.trust_proxy),
                                     state.recorder.clients)
    event = info.events.unsubscribed(recipient, key=f"unsubscribed:{recipient.id}:{claim.scope}",
                                     ip=client.ip or "", user_agent=user_agent, geolocation=client.geolocation,
                                     client_info={**client.client_info, "bot": ""})
    if client.ip is None:
        event.payload.pop("ip", None)
    if client.geolocation is None:
        event.payload.pop("geolocation", None)
    event.payload["unsubscribe-scope"] = scope_name(claim)
    await gateway.record_events([event])


def describe(claim: UnsubscribeClaim, info: BatchInfo) -> str:
    tags = claim.tags(list(info.batch.tags))
    return "messages tagged " + ", ".join(tags) if tags else "any messages"


def unsubscribe_blueprint(gateway: Gateway) -> Blueprint:
    bp = Blueprint("tracking_unsubscribe", __name__, template_folder="templates")

    async def page(claim: UnsubscribeClaim, info: BatchInfo, recipient: Recipient, *, done: bool) -> Response:
        html = await render_template("postgate_tracking/unsubscribe.html", done=done, address=recipient.address,
                                     domain=info.batch.domain, what=describe(claim, info))
        return Response(html, status=200, content_type="text/html; charset=utf-8", headers=NO_CACHE)

    @bp.route("/t/u/<token>", methods=["GET", "HEAD"])
    async def confirm(token: str) -> Response:
        found = await resolve(tracking_for(gateway), token)
        if found is None:
            return not_found()
        return await page(*found, done=False)

    @bp.route("/t/u/<token>", methods=["POST"])
    async def one_click(token: str) -> Response:
        state = tracking_for(gateway)
        found = await resolve(state, token)
        if found is None:
            return not_found()
        form = await request.form
        if form.get("List-Unsubscribe") != ONE_CLICK.partition("=")[2]:
            response = jsonify({"message": f"an unsubscribe POST carries the body {ONE_CLICK} (RFC 8058)"})
            response.status_code = 400
            return response
        await unsubscribe(state, *found)
        if form.get("confirm") == "page":
            return await page(*found, done=True)
        return Response("", status=200, headers=NO_CACHE)

    return bp
