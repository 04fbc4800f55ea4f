"""The tracking endpoints: ``GET /t/o/<token>.gif`` (the pixel) and ``GET /t/c/<token>`` (a link).

The token is verified before anything else is read; a tampered or unknown token answers 404 and
records nothing. ``HEAD`` answers like ``GET`` but is never recorded (scanners and link
previewers send it). Requests only append a hit to the recorder's buffer. A hit whose batch (and,
for a link, its URL) is already cached is answered before Quart by :mod:`fast_path`, the same way.
"""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, request

from postgate import Gateway

from .recording import Hit
from .state import Tracking, tracking_for
from .tokens import TokenClaim

#: A transparent 1×1 GIF.
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
         b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
NO_CACHE = {
    "Cache-Control": "no-cache, no-store, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
#: Longest User-Agent kept.
MAX_USER_AGENT = 512


def not_found() -> Response:
    response = jsonify({"message": "Not found"})
    response.status_code = 404
    return response


def client_address(trust_proxy: bool, forwarded: str, peer: str) -> str:
    """The client address: the last ``X-Forwarded-For`` entry (the one the own proxy added; every
    header line joined with commas) when the proxy is trusted, else the peer address."""
    if trust_proxy:
        last = forwarded.rpartition(",")[2].strip()
        if last:
            return last[:64]
    return peer[:64]


def client_ip(trust_proxy: bool) -> str:
    """:func:`client_address` of the current Quart request."""
    return client_address(trust_proxy, ",".join(request.headers.getlist("X-Forwarded-For")), request.remote_addr or "")


def record_hit(state: Tracking, kind: str, claim: TokenClaim, link: int | None, user_agent: str, ip: str) -> None:
    """Buffer one counted ``GET`` (the Quart routes and the fast path alike)."""
    state.recorder.add(Hit(kind, claim.batch_id, claim.recipient_id, link, user_agent[:MAX_USER_AGENT], ip,
                           claim.rendered_at))


def tracking_blueprint(gateway: Gateway) -> Blueprint:
    bp = Blueprint("tracking", __name__)

    def hit(kind: str, claim: TokenClaim, link: int | None) -> None:
        if request.method == "HEAD":
            return
        state = tracking_for(gateway)
        record_hit(state, kind, claim, link, request.headers.get("User-Agent", ""),
                   client_ip(state.settings.trust_proxy))

    @bp.route("/t/o/<token>.gif", methods=["GET", "HEAD"])
    async def pixel(token: str) -> Response:
        state = tracking_for(gateway)
        claim = state.signer.verify("o", token) if state.signer else None
        if claim is None or await state.recorder.batch(claim.batch_id) is None:
            return not_found()
        hit("open", claim, None)
        return Response(PIXEL, status=200, content_type="image/gif", headers=NO_CACHE)

    @bp.route("/t/c/<token>", methods=["GET", "HEAD"])
    async def click(token: str) -> Response:
        state = tracking_for(gateway)
        claim = state.signer.verify("c", token) if state.signer else None
        info = await state.recorder.batch(claim.batch_id) if claim is not None else None
        url = await state.recorder.link(info, claim.link) if info is not None and claim is not None else None
        if claim is None or url is None:
            return not_found()
        hit("click", claim, claim.link)
        return Response("", status=302, headers={"Location": url, **NO_CACHE})

    return bp
