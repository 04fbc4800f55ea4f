"""The Quart application: Mailgun-shaped errors, authentication of every API path, plugin routes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
import sys
import uuid
from typing import Any

from quart import Blueprint, Quart, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .access_log import REQUEST_ID_HEADER, WELL_FORMED_ID, AccessLog
from .app import Gateway
from .doors import Doors
from .errors import ApiError
from .logs import REQUEST_ID
from .settings import ConfigError

log = logging.getLogger("postgate.web")

#: Paths that always need an API key, whatever route (or none) matches them.
API_PATH = re.compile(r"^/+v[1-5](?:/|$)", re.IGNORECASE)
#: First path segments under /v1 to /v5 that are not a sending domain.
ACCOUNT_SEGMENTS = frozenset({"domains", "stats", "routes", "lists", "ips", "accounts", "webhooks", "analytics"})

#: Form parts a 1000-recipient Ghost batch needs (to x1000, plus every other field), with room.
MAX_FORM_PARTS = 5000
#: Longest ``Authorization`` header read; a longer one is a bad key (401), never parsed.
MAX_AUTHORIZATION = 4096
INTERNAL_ERROR = "Internal server error"


class GatewayApp(Quart):
    """Quart with one last guard: any exception no handler answered (including one raised by an
    error handler itself) is logged once with the request id and becomes a JSON 500 that says
    nothing about the failure."""

    async def handle_exception(self, error: Exception) -> Any:
        propagate = self.config["PROPAGATE_EXCEPTIONS"]
        if propagate or (propagate is None and (self.testing or self.debug)):
            raise error
        log_unexpected(error)
        return await self.finalize_request(internal_error_response(), from_error_handler=True)

    def log_exception(self, exc_info: Any) -> None:
        """A configuration error raised while starting (a plugin's ``startup`` hook) is reported
        by the command as one line; anything else is logged with its traceback."""
        if not isinstance(exc_info[1], ConfigError):
            super().log_exception(exc_info)


def current_gateway() -> Gateway:
    """The gateway of the running app (inside a request or app context)."""
    return current_app.extensions["postgate"]


def create_app(gateway: Gateway, *, background: bool | None = None) -> Quart:
    """A Quart app serving ``gateway``. ``background``: also run workers and event sources in
    this process (default: when ``gateway.workers`` > 0)."""
    app = GatewayApp("postgate")
    app.asgi_app = AccessLog(wrapped_asgi(gateway, app.asgi_app))  # type: ignore[method-assign]
    max_bytes = int(gateway.settings.gateway.max_request_mb * 1024 * 1024)
    app.config.update(
        MAX_CONTENT_LENGTH=max_bytes,
        MAX_FORM_MEMORY_SIZE=max_bytes,
        MAX_FORM_PARTS=MAX_FORM_PARTS,
        BODY_TIMEOUT=120,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["postgate"] = gateway

    doors = Doors()
    for name in gateway.ingress.names():
        door = gateway.ingress.get(name)(gateway)
        if isinstance(door, Blueprint):
            app.register_blueprint(door)
        else:
            doors.add(name, door)
    _register_api_routes(app, gateway)
    _register_plugin_routes(app, gateway)
    app.before_request(assign_request_id)
    app.before_request(authenticate)
    app.after_request(echo_request_id)
    app.after_request(read_refused_body)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)

    run_background = gateway.settings.gateway.workers > 0 if background is None else background

    @app.before_serving
    async def _start() -> None:
        await gateway.start()
        try:
            await doors.start()  # an SMTP listener, say: served by this process only
        except BaseException:
            await gateway.stop()
            raise
        if run_background:
            gateway.start_background(serving=True)

    @app.after_serving
    async def _stop() -> None:
        await doors.stop()  # no new messages; those being accepted finish first
        await gateway.stop()

    return app


def wrapped_asgi(gateway: Gateway, asgi_app: Any) -> Any:
    """``asgi_app`` inside the ``wrap_asgi`` hooks' wrappers, chained in pluggy's order."""
    for impl in reversed(gateway.pm.hook.wrap_asgi.get_hookimpls()):
        kwargs = {"gateway": gateway, "app": asgi_app}
        wrapper = impl.function(**{name: kwargs[name] for name in impl.argnames})
        if wrapper is not None:
            asgi_app = wrapper
    return asgi_app


def _register_plugin_routes(app: Quart, gateway: Gateway) -> None:
    for blueprints in gateway.pm.hook.register_routes(gateway=gateway):
        for blueprint in blueprints or ():
            for rule in _mount(app, blueprint):
                if API_PATH.match(rule.rule):
                    raise ConfigError(
                        f"blueprint {blueprint.name!r} claims {rule.rule}: paths under /v1/ to /v5/ "
                        "belong to the Mailgun API (use the register_api_routes hook)"
                    )


def _register_api_routes(app: Quart, gateway: Gateway) -> None:
    """Mount the plugins' Mailgun API extensions, which may add to the built-in surface but not
    replace any of it."""
    built_in = {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods or ()}
    for blueprints in gateway.pm.hook.register_api_routes(gateway=gateway):
        for blueprint in blueprints or ():
            for rule in _mount(app, blueprint):
                if not API_PATH.match(rule.rule):
                    raise ConfigError(
                        f"API blueprint {blueprint.name!r} claims {rule.rule}, which is not under /v1/ to /v5/"
                    )
                taken = {m for m in rule.methods or () if (rule.rule, m) in built_in} - {"HEAD", "OPTIONS"}
                if taken:
                    raise ConfigError(
                        f"API blueprint {blueprint.name!r} claims {' '.join(sorted(taken))} {rule.rule}, "
                        "which the built-in Mailgun API already answers"
                    )


def _mount(app: Quart, blueprint: Blueprint) -> list[Any]:
    """Register ``blueprint`` and return the URL rules it added."""
    before = {id(rule) for rule in app.url_map.iter_rules()}
    app.register_blueprint(blueprint)
    return [rule for rule in app.url_map.iter_rules() if id(rule) not in before]


def domain_of(path: str) -> str | None:
    """The sending domain a ``/v1`` to ``/v5`` path acts on, or ``None`` for account-level paths."""
    parts = [p for p in path.split("/") if p][1:]
    if not parts:
        return None
    if parts[0].lower() == "domains":
        return parts[1].lower() if len(parts) > 1 else None
    if parts[0].lower() in ACCOUNT_SEGMENTS:
        return None
    return parts[0].lower()


def forbidden() -> Response:
    return Response("Forbidden", status=401, content_type="text/plain; charset=utf-8")


def masked_key(key: str) -> str:
    """``key`` cut to its first 8 characters, so logs and audit trails never hold a usable key."""
    return key[:8] + "\u2026"


def request_domain() -> str | None:
    """The sending domain the current API request acts on (checked against its key), or ``None``
    for an account-level path."""
    return getattr(g, "domain", None)


def allowed_domains() -> list[str]:
    """The sending domains the current API request's key may use."""
    return list(getattr(g, "allowed_domains", ()))


def caller_key() -> str:
    """The masked API key of the current request ("" before authentication)."""
    return getattr(g, "api_key_masked", "")


def request_id() -> str:
    """The current request's id (made on first use if the request has none yet)."""
    current = getattr(g, "request_id", None)
    if current is None:
        current = g.request_id = uuid.uuid4().hex
    return current


async def assign_request_id() -> None:
    """The id the access-log middleware chose; outside it, a well-formed ``X-Request-Id`` from the
    client, or a new one."""
    chosen = REQUEST_ID.get()
    if chosen is None:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        chosen = sent if WELL_FORMED_ID.match(sent) else uuid.uuid4().hex
    g.request_id = chosen


async def echo_request_id(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = request_id()
    return response


#: Longest wait for the rest of a refused request's body before answering anyway.
REFUSED_BODY_SECONDS = 30.0


async def read_refused_body(response: Response) -> Response:
    """Read what is left of the body of a request answered with an error before its body was read
    (a 401 for a wrong key, say), within the size limit and :data:`REFUSED_BODY_SECONDS`; a body
    refused for its size (413) is not read.

    Answering first and closing the connection on the unread body resets it under a client that
    is still sending (a Ghost batch is half a megabyte): the client sees a dropped connection
    instead of Mailgun's answer, and its next request on that connection fails too.
    """
    if (response.status_code >= 400 and response.status_code != 413
            and request.method in ("POST", "PUT", "PATCH", "DELETE")):
        async def discard() -> None:
            async for _ in request.body:
                pass

        # A body over the size limit raises here: that connection is closed, as before.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(discard(), REFUSED_BODY_SECONDS)
    return response


def basic_api_key(header: str | None) -> str | None:
    """The key of an ``Authorization: Basic base64(api:<key>)`` header, or ``None`` for anything
    else: another scheme or user, bad base64, no colon, not UTF-8, non-ASCII, too long."""
    if not header or len(header) > MAX_AUTHORIZATION or not header.isascii():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, key = decoded.partition(":")
    if not colon or user != "api":
        return None
    return key or None


async def authenticate() -> Response | None:
    """HTTP Basic ``api:<key>`` on every ``/v1`` to ``/v5`` path; unknown domains are 404."""
    if not API_PATH.match(request.path):
        return None
    gateway = current_gateway()
    key = basic_api_key(request.headers.get("Authorization"))
    if not key:
        return forbidden()
    allowed = [name for name in gateway.domains if gateway.check_api_key(name, key)]
    if not allowed:
        return forbidden()
    domain = domain_of(request.path)
    g.api_key_masked = masked_key(key)
    g.allowed_domains = allowed
    g.domain = domain
    if domain is None:
        return None
    if domain not in gateway.domains:
        return error_response(404, f"Domain not found: {domain}")
    if domain not in allowed:
        return forbidden()
    return None


def error_response(status: int, message: str, **extra: Any) -> Response:
    response = jsonify({"message": message, **extra})
    response.status_code = status
    return response


async def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, **exc.extra)


HTTP_MESSAGES = {
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
}


async def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status >= 500:
        log_unexpected(exc)
        return internal_error_response()
    if status == 413:
        return error_response(413, "Request too large")
    if status == 400:
        return error_response(400, exc.description or "Bad Request")
    return error_response(status, HTTP_MESSAGES.get(status, exc.name))


def log_unexpected(error: BaseException) -> None:
    """One log line with the traceback, the request id, method and path (quoted: it is client text)."""
    log.error("unhandled error [request %s] on %s %r", request_id(), request.method, request.path,
              exc_info=(type(error), error, error.__traceback__) if error.__traceback__ else sys.exc_info())


def internal_error_response() -> Response:
    """The JSON 500 every unexpected failure gets: a fixed text and the id to find it in the log."""
    return error_response(500, INTERNAL_ERROR, request_id=request_id())
