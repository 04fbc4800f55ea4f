"""``SendEmail`` without boto3 on the hot path: one signed JSON ``POST`` over a pooled async client.

boto3 spends about a millisecond of CPU per ``send_email`` (endpoint resolution, parameter
validation, event hooks, a user-agent string built on every call, signing) and needs a thread
per call in flight. :class:`HttpSendClient` does the one call the ``ses`` delivery makes on the
event loop instead: the request body is the JSON botocore would serialize for the same
parameters (``Content.Raw.Data`` in base64), signed with :class:`~.sigv4.SigV4Signer` (a signing
key cached per day), and sent over an ``aiohttp.ClientSession`` whose HTTP/1.1 connections stay
open (at most ``send_threads`` of them); aiohttp costs a fifth of the CPU per request that httpx's
async client does (bench/README.md, ``sendpath``). Everything is resolved once, from the boto3 send client the
delivery builds anyway: the endpoint, the region, the signing name, the credentials of the standard
chain (``get_frozen_credentials()`` each call; refreshable credentials due for renewal are renewed
in a thread first, since that may ask STS or the instance metadata service) and the user agent, which carries ``app/<id>`` when ``AWS_SDK_UA_APP_ID`` (or
``sdk_ua_app_id``) names one, as botocore's does.

Answers: a 2xx gives SES's ``MessageId``; anything else raises :class:`SesAnswerError` with the
error code read as botocore reads a REST-JSON error (``x-amzn-ErrorType``, else the body's
``code``/``__type``, else the HTTP status) so that ``delivery.classify_error`` maps it to the same
verdict as boto3's ``ClientError``. Transport failures surface as aiohttp's own exceptions.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import platform
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from .sigv4 import SigV4Signer

SEND_PATH = "/v2/email/outbound-emails"
#: ``Content`` with empty data as ``json.dumps`` writes it, and the data's opening and closing.
_EMPTY_DATA = '"Content":{"Raw":{"Data":""}}'
_DATA_OPEN, _DATA_CLOSE = b'"Content":{"Raw":{"Data":"', b'"}}'
#: An idle connection is closed after this long, before a load balancer's idle timeout (often 60 s)
#: can close it under a request.
KEEPALIVE_SECONDS = 20.0


class SesAnswerError(Exception):
    """SES answered a send with an error (``code``, ``message``, HTTP ``status``)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code} (HTTP {status}): {message}")
        self.code = code
        self.message = message
        self.status = status


def parse_error(status: int, headers: Any, body: bytes) -> SesAnswerError:
    """An error answer read the way botocore's REST-JSON parser reads it."""
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {"message": body.decode("utf-8", "replace")}
    if not isinstance(parsed, dict):
        parsed = {}
    message = str(parsed.get("message", parsed.get("Message", "")) or "")
    if status >= 500 and (not body or body.lstrip().startswith(b"<")):
        # A bare 5xx: botocore's generic error, named by the status alone.
        return SesAnswerError(str(status), http.client.responses.get(status, ""), status)
    code = headers.get("x-amzn-errortype") or parsed.get("code") or parsed.get("Code") or parsed.get("__type")
    code = str(code or status).split(":", 1)[0].rsplit("#", 1)[-1]
    return SesAnswerError(code, message, status)


def request_body(params: dict[str, Any], data: bytes | None = None) -> bytes:
    """The JSON body of ``SendEmail`` for boto3-style ``params`` (``Content.Raw.Data`` as bytes):
    what ``json.dumps`` writes for them with the data in base64, without the encoder scanning the
    ~100 KB of base64 for characters to escape (there are none): the parameters around the data
    are serialized on their own and the data's bytes put between them. ``data``: the base64 of
    ``Content.Raw.Data`` when the caller has it already."""
    wire = dict(params)
    wire["Content"] = {"Raw": {"Data": ""}}
    before, empty, after = json.dumps(wire, separators=(",", ":")).partition(_EMPTY_DATA)
    if not empty:  # pragma: no cover - every string's quotes are escaped: the marker is the structure
        raise RuntimeError("SendEmail body lost its data slot")
    if data is None:
        data = base64.b64encode(params["Content"]["Raw"]["Data"])
    return b"".join((before.encode(), _DATA_OPEN, data, _DATA_CLOSE, after.encode()))


def user_agent(app_id: str | None) -> str:
    """The User-Agent of every send, built once (``app/<id>`` as botocore writes it)."""
    import botocore

    from . import __name__ as package

    agent = (f"{package.replace('_', '-')} Botocore/{botocore.__version__} "
             f"lang/python#{platform.python_version()} os/{platform.system().lower()}")
    return f"{agent} app/{app_id}" if app_id else agent


def canonical_host(url: str) -> str:
    """The ``Host`` SigV4 signs: the URL's host, with its port unless it is the scheme's default."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def pooled_session(connections: int, connect_timeout: float, read_timeout: float) -> Any:
    """An ``aiohttp.ClientSession`` keeping up to ``connections`` open (closed after
    :data:`KEEPALIVE_SECONDS` idle), connect and read bounded, no overall limit (the
    caller bounds its calls in flight), bodies left as sent."""
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, keepalive_timeout=KEEPALIVE_SECONDS),
        timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_connect=connect_timeout, sock_read=read_timeout),
        auto_decompress=False, skip_auto_headers=("Accept-Encoding",))


class HttpSendClient:
    """``SendEmail`` over a pooled ``aiohttp.ClientSession``, configured from a boto3 sesv2 client.

    Build it on the event loop that sends (the session belongs to that loop)."""

    def __init__(self, boto_client: Any, credentials: Any, *, connections: int, connect_timeout: float,
                 read_timeout: float) -> None:
        meta = boto_client.meta
        self.url = meta.endpoint_url.rstrip("/") + SEND_PATH
        self.credentials = credentials  # botocore (Refreshable)Credentials, or None
        region = meta.region_name
        service = meta.service_model.signing_name
        self.signer = SigV4Signer(canonical_host(self.url), urlsplit(self.url).path, region, service)
        self.user_agent = user_agent(meta.config.user_agent_appid)
        self.http = pooled_session(connections, connect_timeout, read_timeout)

    def signed_headers(self, body: bytes, frozen: Any = None) -> dict[str, str]:
        """Headers of one send, signed now with ``frozen`` or else the current credentials."""
        if self.credentials is None:
            from botocore.exceptions import NoCredentialsError

            raise NoCredentialsError()
        frozen = frozen or self.credentials.get_frozen_credentials()
        headers = self.signer.headers(body, frozen, datetime.now(timezone.utc))
        headers["User-Agent"] = self.user_agent
        return headers

    async def send_email(self, params: dict[str, Any], data: bytes | None = None) -> str:
        """Send one message; SES's ``MessageId`` (raises :class:`SesAnswerError` or aiohttp's errors).
        ``data``: the base64 of ``Content.Raw.Data``, if known (:func:`request_body`)."""
        body = request_body(params, data)
        frozen = None
        if self._refresh_due():
            # Renewing may ask STS or the instance metadata service: never on the event loop.
            frozen = await asyncio.to_thread(self.credentials.get_frozen_credentials)
        async with self.http.post(self.url, data=body, headers=self.signed_headers(body, frozen)) as response:
            content = await response.read()
            if 200 <= response.status < 300:
                return str(json.loads(content)["MessageId"])
            raise parse_error(response.status, response.headers, content)

    def _refresh_due(self) -> bool:
        """Whether refreshable credentials are close enough to expiry that botocore would renew them."""
        refresh_needed = getattr(self.credentials, "refresh_needed", None)
        return refresh_needed is not None and refresh_needed()

    async def aclose(self) -> None:
        await self.http.close()
