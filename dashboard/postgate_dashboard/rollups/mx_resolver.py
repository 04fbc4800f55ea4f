"""MX look-ups with dnspython's async resolver: which hosts receive a domain's mail.

Names that can have no public MX (``example.com``, ``*.test``, ``*.invalid``, ``*.localhost``,
``*.local``; RFC 2606 and 6761) and names that are not valid host names are never asked about.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

#: Endings of names reserved for documentation, tests and local networks.
SPECIAL_USE = ("example", "test", "invalid", "localhost", "local", "example.com", "example.net", "example.org")

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True, slots=True)
class MxAnswer:
    """A look-up's outcome: ``hosts`` by preference when the domain answered (empty when it has
    no MX or does not exist); ``failed`` when no answer came (time-out, server failure)."""

    hosts: tuple[str, ...] = ()
    failed: bool = False


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5


def parse_nameserver(text: str) -> tuple[str, int]:
    """``192.0.2.1``, ``192.0.2.1:5353``, ``2001:db8::1`` or ``[2001:db8::1]:5353`` as (address, port)."""
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not _digits(rest[1:]):
                raise ValueError(f"not a nameserver address: {text!r}")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, digits = text.partition(":")
        if not _digits(digits):
            raise ValueError(f"not a nameserver address: {text!r}")
        port = int(digits)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"a nameserver is an IP address (with an optional port), not {text!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"nameserver port out of range: {text!r}")
    return host, port


def askable(domain: str) -> bool:
    """Whether ``domain`` is a host name worth an MX look-up (ASCII or IDNA form, not reserved)."""
    if not domain or len(domain) > 253:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return False
    return not any(domain == end or domain.endswith("." + end) for end in SPECIAL_USE)


def make_resolver(nameservers: list[str] | None, timeout: float) -> dns.asyncresolver.Resolver:
    """A resolver asking ``nameservers`` (the system's when ``None``), each look-up bounded by
    ``timeout`` seconds in all."""
    if nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_nameserver(s)) for s in nameservers]
    else:
        resolver = dns.asyncresolver.Resolver()
    resolver.timeout = resolver.lifetime = timeout
    return resolver


async def lookup_mx(resolver: dns.asyncresolver.Resolver, domain: str) -> MxAnswer:
    """``domain``'s MX hosts, most preferred first."""
    try:
        answer = await resolver.resolve(domain, "MX", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return MxAnswer()
    except (dns.exception.DNSException, OSError):
        return MxAnswer(failed=True)
    records = sorted(answer, key=lambda r: (r.preference, str(r.exchange)))
    return MxAnswer(tuple(str(r.exchange).rstrip(".").lower() for r in records))
