"""Sign-in by a single-sign-on proxy's header (``trusted_header``), believed only from the proxies'
own addresses (``trusted_proxies``); from anyone else the header is ignored and logged."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from . import accounts
from .settings import DashboardSettings

log = logging.getLogger("postgate.dashboard")


def peer_is_trusted(peer: str | None, networks: Iterable[IPv4Network | IPv6Network]) -> bool:
    """Whether the direct peer address is inside one of ``networks`` (an IPv4-mapped IPv6 address
    counts as its IPv4 address)."""
    try:
        address = ip_address(peer or "")
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def claimed_email(settings: DashboardSettings, headers: Any, peer: str | None) -> str | None:
    """The email the proxy's header names, when the header is on, present and from a trusted peer;
    ``None`` otherwise (a header from any other peer is logged and ignored)."""
    if not settings.trusted_header:
        return None
    value = headers.get(settings.trusted_header)
    if not value:
        return None
    if not peer_is_trusted(peer, settings.trusted_proxies):
        log.warning("dashboard: ignored the %s header from %s: not one of trusted_proxies",
                    settings.trusted_header, peer)
        return None
    return value


async def proxy_account(gateway: Any, settings: DashboardSettings, email: str, peer: str | None
                        ) -> accounts.Account | None:
    """The account the proxy signed in; created with ``trusted_header_create_role`` when set, else
    ``None`` (refused and logged) for an address without one."""
    # Header bytes arrive decoded as Latin-1: only ASCII is sure to be what the proxy meant.
    account = await accounts.find_user(gateway, email) if email.isascii() else None
    if account is not None:
        return account
    role = settings.trusted_header_create_role
    if role is None or not email.isascii():
        log.warning("dashboard: the proxy at %s named %r, which has no dashboard account: refused", peer, email[:320])
        return None
    try:
        # A password nobody knows: this account signs in through the proxy only.
        return await accounts.create_user(gateway, email, secrets.token_urlsafe(32), role)
    except accounts.AccountError as exc:
        raced = await accounts.find_user(gateway, email)  # another request may have made it just now
        if raced is None:
            log.warning("dashboard: the proxy at %s named %r: no account made (%s)", peer, email[:320], exc)
        return raced
