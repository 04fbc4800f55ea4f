"""Webhook URLs: which are acceptable, and where they may lead (the SSRF guard).

A URL is checked twice: when it is configured (its syntax, and the addresses its host has then)
and before every POST, after resolving its host, so a name that later points inside the network
is refused too. The POST then goes to the very address that was checked (``pinned``).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Longest URL accepted.
MAX_URL = 2048
#: Seconds allowed for resolving a host while configuring.
RESOLVE_TIMEOUT = 3.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """The URL may not be used; the message says why (shown to API clients)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL and the address its POST goes to (``None``: connect by name)."""

    url: str
    host: str
    address: str | None


def checked_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL a webhook may hold; else :class:`TargetRefused`."""
    if not url:
        raise TargetRefused("url is required")
    if len(url) > MAX_URL:
        raise TargetRefused(f"url is longer than {MAX_URL} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise TargetRefused("url must be printable ASCII without spaces (percent-encode the rest)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("url is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise TargetRefused("url must start with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("url has no host")
    if port == 0:
        raise TargetRefused("url has no valid port")
    return url


@functools.lru_cache(maxsize=4096)
def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


def is_public(address: IPAddress) -> bool:
    """Whether a POST may go to ``address``: a global unicast address (no loopback, link-local,
    private, shared, reserved or multicast range; IPv4-mapped IPv6 judged as the IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def addresses_of(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


@functools.lru_cache(maxsize=4096)
def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


async def check_configured(url: str, allow_private: bool) -> str:
    """Configuration-time check: the syntax, then (unless private targets are allowed) the
    addresses the host has now. A host that does not resolve yet is accepted; it is checked
    again before every POST."""
    checked_url(url)
    if allow_private:
        return url
    host = host_of(url)
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        raise TargetRefused(f"url host {host} is a loopback name; webhooks may not target it")
    try:
        found = await asyncio.wait_for(addresses_of(host, _port(url)), RESOLVE_TIMEOUT)
    except (OSError, asyncio.TimeoutError, UnicodeError):
        return url
    refused = [a for a in found if not is_public(a)]
    if refused:
        raise TargetRefused(f"url host {host} resolves to {refused[0]}, a loopback, link-local or "
                            "private address; webhooks may not target it")
    return url


async def resolve_target(url: str, allow_private: bool) -> Target:
    """Delivery-time check: resolve the host and pick a public address to POST to (raises
    :class:`TargetRefused` when every address is refused, ``OSError`` when none is found)."""
    host = host_of(url)
    if allow_private:
        return Target(url, host, None)
    found = await addresses_of(host, _port(url))
    allowed = [a for a in found if is_public(a)]
    if not allowed:
        shown = found[0] if found else "nothing"
        raise TargetRefused(f"{host} resolves to {shown}, a loopback, link-local or private address")
    return Target(url, host, str(allowed[0]))
