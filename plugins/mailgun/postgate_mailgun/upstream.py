"""The upstream Mailgun account over HTTP: one pooled ``httpx.AsyncClient`` per backend.

The private API key is read from the environment variable ``api_key_env`` names, so it lives in
Postgate's configuration only; Postgate's own clients keep authenticating with their per-domain
Postgate keys and never see it.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import httpx

from .settings import RelaySettings

#: Largest upstream answer read (an events page of 300 items is far below this).
MAX_ANSWER_BYTES = 16 * 1024 * 1024


class MissingKey(RuntimeError):
    """The environment variable that should hold the upstream key is unset or empty."""


def api_key(settings: RelaySettings) -> str:
    key = os.environ.get(settings.api_key_env, "").strip()
    if not key:
        raise MissingKey(f"the upstream Mailgun key is missing: set the environment variable "
                         f"{settings.api_key_env} ([plugins.mailgun_relay] api_key_env)")
    return key


def make_client(settings: RelaySettings) -> httpx.AsyncClient:
    """The pooled client every call of one backend shares (keep-alive, bounded connections)."""
    limits = httpx.Limits(max_connections=settings.max_connections,
                          max_keepalive_connections=settings.max_connections)
    timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
    return httpx.AsyncClient(base_url=settings.base_url.rstrip("/"), auth=("api", api_key(settings)),
                             limits=limits, timeout=timeout, follow_redirects=False)


def same_origin_path(next_url: str) -> str:
    """The path and query of a ``paging.next`` link, to be asked of the configured ``base_url``
    (never of whatever host the link names: an upstream answer cannot redirect the key)."""
    parts = urlsplit(next_url)
    path = parts.path or "/"
    if not path.startswith("/v3/"):
        raise ValueError(f"unexpected paging link {next_url[:200]!r}")
    return path + (f"?{parts.query}" if parts.query else "")


def answer_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an answer, ``{}`` when it is not one."""
    if len(response.content) > MAX_ANSWER_BYTES:
        return {}
    try:
        body = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return {}
    return body if isinstance(body, dict) else {}


def answer_text(response: httpx.Response, limit: int = 300) -> str:
    """Mailgun's ``message`` (or the raw text), cut to ``limit`` characters, on one line."""
    text = answer_json(response).get("message") or response.text
    return " ".join(str(text).split())[:limit]
