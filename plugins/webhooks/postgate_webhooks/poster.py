"""One webhook POST: the signed body, over a pooled aiohttp session, to the address the SSRF
guard checked.

The URL keeps its host name (so the Host header, TLS server name and certificate check are the
receiver's own); the session's resolver answers only with the address ``resolve_target`` checked
for that host (``PinnedResolver``), so a connection never goes anywhere unchecked. Connections
are kept alive and reused per host.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from .signing import new_token, signature
from .targets import Target

USER_AGENT = "Postgate-Webhooks/0.1"
#: Longest error text kept in the attempts log.
MAX_ERROR = 255
#: Bytes of a receiver's answer read (the rest is dropped with the connection).
MAX_ANSWER = 65536
HEADERS = {"Content-Type": "application/json", "User-Agent": USER_AGENT}


@dataclass(frozen=True, slots=True)
class Answer:
    """What a POST came to: the HTTP status, or ``None`` and the error when none came."""

    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def body_for(key: str, event_json: str, now: float) -> bytes:
    """Mailgun's webhook JSON around an already-encoded event: a fresh timestamp and token per
    attempt (receivers refuse old timestamps and may use the token against replays). The
    signature's parts are digits and hex, so the JSON is written directly."""
    timestamp = str(int(now))
    token = new_token()
    return (f'{{"signature": {{"timestamp": "{timestamp}", "token": "{token}", '
            f'"signature": "{signature(key, timestamp, token)}"}}, "event-data": {event_json}}}').encode()


class PinnedResolver(AbstractResolver):
    """Resolves a host only to the address the SSRF guard last checked for it; hosts never
    checked (private targets allowed) are resolved as usual."""

    def __init__(self) -> None:
        self.pinned: dict[str, str] = {}
        self._plain = DefaultResolver()

    def pin(self, target: Target) -> None:
        if target.address is not None:
            self.pinned[target.host.lower()] = target.address

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        address = self.pinned.get(host.lower().rstrip("."))
        if address is None:
            return await self._plain.resolve(host, port, family)
        return [ResolveResult(hostname=host, host=address, port=port, proto=0, flags=socket.AI_NUMERICHOST,
                              family=socket.AF_INET6 if ":" in address else socket.AF_INET)]

    async def close(self) -> None:
        await self._plain.close()


def new_session(max_connections: int, timeout_seconds: float, resolver: PinnedResolver) -> aiohttp.ClientSession:
    """The process's POST session: a bounded keep-alive pool, the same headers on every POST, no
    cookies, no proxies from the environment, no redirects followed (``post`` says so per request)."""
    connector = aiohttp.TCPConnector(limit=max_connections, limit_per_host=0, resolver=resolver,
                                     use_dns_cache=False, enable_cleanup_closed=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_seconds),
                                 headers=HEADERS, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                                 auto_decompress=False)


@functools.lru_cache(maxsize=4096)
def parsed_url(url: str) -> URL:
    """A webhook URL parsed once (every POST to it reuses the parse)."""
    return URL(url, encoded=True)


async def post(session: aiohttp.ClientSession, target: Target, body: bytes) -> Answer:
    """POST ``body`` to ``target``; transport failures become an :class:`Answer` without status."""
    try:
        async with session.post(parsed_url(target.url), data=body, allow_redirects=False) as response:
            status = response.status
            content = response.content
            if not content.is_eof():  # drained, so the connection is kept; bounded
                read = 0
                async for chunk in content.iter_any():
                    read += len(chunk)
                    if read > MAX_ANSWER:
                        break
    except asyncio.TimeoutError:
        return Answer(None, "timed out")
    except (aiohttp.ClientError, ValueError) as exc:
        return Answer(None, (f"{type(exc).__name__}: {exc}")[:MAX_ERROR])
    return Answer(status, "" if 200 <= status < 300 else f"HTTP {status}")
