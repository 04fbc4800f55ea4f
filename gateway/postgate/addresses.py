"""Recipient entries (``"Name" <addr>`` or bare): splitting them quickly, checking them strictly.

``email.utils.parseaddr`` costs tens of microseconds per call; a 1000-recipient batch is mostly
bare addresses, which a regular expression recognises in well under one.

:func:`strict_entry` is the grammar accept enforces, so that delivery never meets an address it
cannot send to: plain ASCII addresses are checked by one regular expression (RFC 5321 dot-atom
local part, hostname labels, RFC 5321 length limits); everything else (display names, quoted local
parts, domain literals, internationalised addresses) is parsed by the standard library's header
parser, the one rendering uses, and the address checked by ``email-validator``.
"""

from __future__ import annotations

import re
from email.headerregistry import HeaderRegistry
from email.utils import parseaddr

from email_validator import EmailNotValidError, validate_email

from .headers import FORBIDDEN

#: A bare addr-spec with nothing that needs RFC 5322 parsing (no name, quotes, comments, brackets).
PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+")

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: A plain ASCII address within RFC 5321's limits: local part 64, whole address 254 octets. A
#: domain holding ``--`` (punycode ``xn--`` labels, reserved ``ab--`` ones) takes the full check.
ASCII_ADDRESS = re.compile(rf"(?=[^@]{{1,64}}@)(?=.{{3,254}}\Z)(?![^@]*@.*--)"
                           rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")

#: ``Name Words <addr>`` or ``"Quoted Name" <addr>`` with a plain ASCII address: the common named
#: form, which both parsers read alike (checked without RFC 5322 parsing).
_NAME_WORD = r'[^\x00-\x20\x7f-\x9f()<>@,;:\\".\[\]\u2028\u2029]+'
_QUOTED_NAME = r'"[^"\\\x00-\x1f\x7f\x85\u2028\u2029]*"'
NAMED_ADDRESS = re.compile(rf"(?:{_NAME_WORD}(?: {_NAME_WORD})*|{_QUOTED_NAME}) ?<([^<>]*)>")

#: ``Any name text <addr>`` without quotes or angle brackets in the name.
_UNQUOTED_NAME = re.compile(r'([^<>"]*?)\s*<([^<>"]*)>')

_REGISTRY = HeaderRegistry()


def _real_defects(header: object) -> list[object]:
    """The parser's defects except those rendering copes with: a non-ASCII local part (SMTPUTF8)
    and a period in a display name (``J. Smith <j@example.com>``, obsolete but everywhere)."""
    return [d for d in header.defects  # type: ignore[attr-defined]
            if type(d).__name__ != "NonASCIILocalPartDefect" and str(d) != "period in 'phrase'"]


def parse_entry(entry: str) -> tuple[str, str]:
    """``(display name, address)`` of one entry; ``("", "")`` when it holds no address."""
    stripped = entry.strip()
    if PLAIN_ADDRESS.fullmatch(stripped):
        return "", stripped
    return parseaddr(stripped)


def valid_address(address: str) -> bool:
    """Whether ``address`` (an addr-spec) is one delivery can send to."""
    if ASCII_ADDRESS.fullmatch(address):
        return True
    if not address or FORBIDDEN.search(address) or len(address) > 254 * 4:
        return False
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=True, allow_quoted_local=True,
                       allow_domain_literal=True, globally_deliverable=False, strict=True)
    except EmailNotValidError:
        return False
    return True


def strict_entry(entry: str) -> str | None:
    """``entry`` (``"Name" <addr>`` or bare, as sent) when it holds exactly one valid address, with a
    display name free of control characters, read the same by the header parser and the ledger;
    ``None`` when it does not.

    A display name written without the quotes RFC 5322 wants (``Tech: Weekly <a@example.com>``,
    as Ghost writes a site title) comes back quoted, so that every parser reads the name that was
    meant instead of a group or a second address."""
    if ASCII_ADDRESS.fullmatch(entry) and "=?" not in entry:  # an encoded word may decode to anything
        return entry  # the common case, without RFC 5322 parsing
    named = NAMED_ADDRESS.fullmatch(entry)
    if named and ASCII_ADDRESS.fullmatch(named.group(1)) and "=?" not in entry:  # no encoded words
        return entry
    if FORBIDDEN.search(entry):
        return None
    if _parses_alike(entry):
        return entry
    loose = _UNQUOTED_NAME.fullmatch(entry)
    if loose and loose.group(1) and "=?" not in loose.group(1):
        name, address = loose.group(1), loose.group(2)
        quoted = '"' + name.replace("\\", "\\\\") + f'" <{address}>'
        if _parses_alike(quoted) and _REGISTRY("To", quoted).addresses[0].display_name == name:
            return quoted
    return None


def _parses_alike(entry: str) -> bool:
    """Whether the header parser reads one valid address (and a clean name) in ``entry``, the same
    address as the ledger's parser."""
    try:
        header = _REGISTRY("To", entry)
        addresses, groups = header.addresses, header.groups
        defects = _real_defects(header)
    except Exception:  # noqa: BLE001 - the stdlib parser raises more than HeaderParseError
        return False
    if defects or len(addresses) != 1 or len(groups) != 1 or groups[0].display_name is not None:
        return False
    address = addresses[0].addr_spec
    if FORBIDDEN.search(addresses[0].display_name):  # an encoded word may decode to anything
        return False
    return parse_entry(entry)[1] == address and valid_address(address)


def valid_address_list(value: str) -> bool:
    """Whether an address header's value (``Reply-To``, ``Sender``…) lists only valid addresses, as
    the header parser rendering uses reads them."""
    try:
        header = _REGISTRY("To", value)
        addresses = header.addresses
        defects = _real_defects(header)
    except Exception:  # noqa: BLE001 - the stdlib parser raises more than HeaderParseError
        return False
    return bool(addresses) and not defects and all(valid_address(a.addr_spec) for a in addresses)
def address_key(address: str) -> str:
    """The form in which addresses are compared: suppressions, whitelists, event filters.

    Mailgun compares suppression entries case-insensitively as a whole (``Bob@Example.COM`` is
    ``bob@example.com``: the domain part is case-insensitive by RFC 5321, and Mailgun folds the
    local part too), so the key is the trimmed address, lower-cased. Storage compares keys
    exactly (binary collation on MariaDB/MySQL, SQLite's default), so both back ends agree.
    """
    return address.strip().lower()
