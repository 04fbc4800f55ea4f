"""SMTP envelope addresses: what MAIL FROM and RCPT TO carry, and the VERP return path.

With ``relay_verp_address = "bounces@bounce.example.com"`` each message leaves with the return
path ``bounces+pg<batch id>-<ledger row id>@bounce.example.com``: a bounce sent to it names its
ledger row, whatever the bounce's body says (:func:`verp_ids` reads it back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERP_TAG = re.compile(r"\+pg(\d{1,19})-(\d{1,19})@", re.IGNORECASE)
#: Characters an envelope address may never hold (they would end or split the command).
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f<>\u0085\u2028\u2029]")


class UnusableAddress(ValueError):
    """An address that cannot go into an SMTP envelope."""


@dataclass(frozen=True, slots=True)
class EnvelopeAddress:
    """An address ready for MAIL FROM or RCPT TO; ``utf8``: it needs the SMTPUTF8 extension."""

    address: str
    utf8: bool


def envelope_address(address: str) -> EnvelopeAddress:
    """``address`` with its domain in punycode; raises :class:`UnusableAddress`."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain or _FORBIDDEN.search(local) or _FORBIDDEN.search(domain):
        raise UnusableAddress(f"{address!r} is not an address an SMTP envelope can carry")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise UnusableAddress(f"{address!r}: the domain cannot be written in punycode ({exc})") from None
    return EnvelopeAddress(f"{local}@{domain}", utf8=not local.isascii())


def verp_address(base: str, batch_id: int, recipient_id: int) -> str:
    """``local+pg<batch>-<row>@domain`` from ``local@domain``."""
    local, _, domain = base.rpartition("@")
    return f"{local}+pg{batch_id}-{recipient_id}@{domain}"


def verp_ids(address: str) -> tuple[int, int] | None:
    """``(batch id, ledger row id)`` from a VERP return path, or ``None`` if it is not one."""
    match = _VERP_TAG.search(address)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))
