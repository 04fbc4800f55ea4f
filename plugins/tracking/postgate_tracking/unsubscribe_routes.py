"""The unsubscribe endpoint ``/t/u/<token>``: ``POST`` unsubscribes (RFC 8058 one-click, or the
confirmation page's form), ``GET`` shows that page and changes nothing. What an unsubscribe stores
is ``unsubscribing``'s.
"""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, jsonify, render_template, request

from postgate import Gateway, Recipient

from .clients import describe_client
from .recording import BatchInfo
from .routes import MAX_USER_AGENT, NO_CACHE, client_ip, not_found
from .state import Tracking, tracking_for
from .unsubscribe import ONE_CLICK, UnsubscribeClaim, verify
from .unsubscribing import record_unsubscribe, resolve_claim


async def resolve(state: Tracking, token: str) -> tuple[UnsubscribeClaim, BatchInfo, Recipient] | None:
    """The claim, batch and ledger row of a genuine token, or ``None`` (nothing read for a bad one)."""
    claim = verify(state.signer, token) if state.signer is not None else None
    found = None if claim is None else await resolve_claim(state, claim)
    return None if found is None else (claim, *found)


async def unsubscribe(state: Tracking, claim: UnsubscribeClaim, info: BatchInfo, recipient: Recipient) -> None:
    """Store the unsubscribe of this request, with its client's description."""
    user_agent = request.headers.get("User-Agent", "")[:MAX_USER_AGENT]
    client = await asyncio.to_thread(describe_client, user_agent, client_ip(state.settings.trust_proxy),
                                     state.recorder.clients)
    await record_unsubscribe(state, claim, info, recipient, client, user_agent)


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
        # The body is read before any answer: answered first, Hypercorn closes the connection
        # when the body then arrives, and a client reusing it gets no answer to its next request.
        form = await request.form
        found = await resolve(state, token)
        if found is None:
            return not_found()
        if form.get("List-Unsubscribe") != ONE_CLICK.partition("=")[2]:
            response = jsonify({"message": f"an unsubscribe POST carries the body {ONE_CLICK} (RFC 8058)"})
            response.status_code = 400
            return response
        await unsubscribe(state, *found)
        if form.get("confirm") == "page":
            return await page(*found, done=True)
        return Response("", status=200, headers=NO_CACHE)

    return bp
