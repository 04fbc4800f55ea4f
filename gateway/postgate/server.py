"""Running the app under Hypercorn, with HTTP/1.1 reason phrases.

Hypercorn writes ``HTTP/1.1 400 `` with an empty reason phrase. mailgun.js (and so Ghost) uses
the reason phrase as an error's ``message`` ("Bad Request: 'from' parameter is missing"), falling
back to axios's code when it is empty, so Postgate fills in the standard phrase.

Hypercorn logs through Postgate's logging set-up (one line each, in the configured format); its
own access log stays off: :mod:`postgate.access_log` writes one line per request instead.
"""

from __future__ import annotations

import http
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import hypercorn.protocol.h11 as hypercorn_h11
from hypercorn.asyncio import serve
from hypercorn.config import Config

from .settings import ConfigError


def reason_phrase(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


class _H11WithReasons:
    """The ``h11`` module as Hypercorn's HTTP/1.1 protocol sees it, with reason phrases filled in."""

    def __getattr__(self, name: str) -> Any:
        return getattr(h11, name)

    @staticmethod
    def Response(**kwargs: Any) -> h11.Response:  # noqa: N802 - mirrors h11.Response
        if not kwargs.get("reason"):
            kwargs["reason"] = reason_phrase(kwargs["status_code"])
        return h11.Response(**kwargs)


def install_reason_phrases() -> None:
    """Make Hypercorn's HTTP/1.1 responses carry standard reason phrases (idempotent)."""
    if not isinstance(hypercorn_h11.h11, _H11WithReasons):
        hypercorn_h11.h11 = _H11WithReasons()  # type: ignore[assignment]


def hypercorn_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None  # postgate.access_log writes the access lines
    # A logger rather than "-": Hypercorn would add its own stderr handler, and every line
    # ("Running on …") would show twice, once in its format and once in ours.
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    # Start-up migrates storage and opens every backend; on a busy host that can pass Hypercorn's
    # default 60 s, after which it gives up serving.
    config.startup_timeout = 300
    return config


async def serve_app(app: Any, host: str, port: int, shutdown_trigger: Callable[[], Awaitable[Any]]) -> None:
    """Serve ``app`` on ``host:port`` until ``shutdown_trigger`` returns."""
    install_reason_phrases()
    await serve(app, hypercorn_config(host, port), shutdown_trigger=shutdown_trigger)


def plugin_listening_socket(plugin: str, host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` for a plugin's own listener (its ``[plugins.<plugin>]
    listen`` setting), bound now so that a taken port stops start-up; otherwise a
    :class:`ConfigError` naming the setting. Hand it to Hypercorn as ``fd://<socket.detach()>``."""
    where = f"[plugins.{plugin}] listen {host}:{port}"
    fix = f"pick another address with listen (or POSTGATE_PLUGINS__{plugin.upper()}__LISTEN)"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        listening = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"{where}: {exc.strerror or exc}; {fix}") from None
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
        listening.listen(128)
    except OSError as exc:
        listening.close()
        raise ConfigError(f"{where}: {exc.strerror or exc}; {fix}") from None
    return listening
