"""One webhook POST: the signed body, to the address the SSRF guard checked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from .signing import new_token, signature
from .targets import Target

USER_AGENT = "Postgate-Webhooks/0.1"
#: Longest error text kept in the attempts log.
MAX_ERROR = 255
#: Bytes of a receiver's answer read (the rest is dropped with the connection).
MAX_ANSWER = 65536


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
    attempt (receivers refuse old timestamps and may use the token against replays)."""
    timestamp = str(int(now))
    token = new_token()
    signed = {"timestamp": timestamp, "token": token, "signature": signature(key, timestamp, token)}
    return ('{"signature": ' + json.dumps(signed) + ', "event-data": ' + event_json + "}").encode()


def _pinned(target: Target) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL with its host replaced by the checked address, the Host header and TLS name."""
    if target.address is None:
        return target.url, {}, {}
    parts = urlsplit(target.url)
    literal = f"[{target.address}]" if ":" in target.address else target.address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    if parts.username is not None:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": target.host} if parts.scheme.lower() == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": host_header}, extensions


async def post(client: httpx.AsyncClient, target: Target, body: bytes) -> Answer:
    """POST ``body`` to ``target``; transport failures become an :class:`Answer` without status."""
    url, headers, extensions = _pinned(target)
    headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
    try:
        async with client.stream("POST", url, content=body, headers=headers, extensions=extensions) as response:
            read = 0
            async for chunk in response.aiter_raw():  # drained, so the connection is kept; bounded
                read += len(chunk)
                if read > MAX_ANSWER:
                    break
    except httpx.TimeoutException:
        return Answer(None, "timed out")
    except httpx.HTTPError as exc:
        return Answer(None, (f"{type(exc).__name__}: {exc}")[:MAX_ERROR])
    reason = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return Answer(response.status_code, reason)
