"""Who fetched a pixel or followed a link: Mailgun's ``client-info``, ``geolocation`` and ``ip``.

Pure functions over the request's ``User-Agent`` and address; no web framework, no database.
The user agent is hostile input: it is bounded and stripped of control characters before it is
parsed or stored, and nothing here raises on it. Parsing is cached by user-agent string, since a
newsletter's hits come from a few dozen distinct clients.

Privacy (GDPR): an IP address is personal data. ``ip_policy`` decides what is kept:
``store`` keeps it whole, ``truncate`` (the default) keeps only the network, an IPv4 /24 or an
IPv6 /48, which still tells the country and provider but no longer one household, and ``drop``
keeps nothing. Geolocation, when the operator supplies a database, is computed in memory from the
full address and only country, region and city are kept.
"""

from __future__ import annotations

import ipaddress
import logging
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

import maxminddb
import ua_parser

log = logging.getLogger(__name__)

IpPolicy = Literal["store", "truncate", "drop"]
IP_POLICIES: tuple[str, ...] = ("store", "truncate", "drop")

# Longest user agent kept in an event; longer headers are cut before parsing as well.
MAX_USER_AGENT = 512
IPV4_PREFIX = 24
IPV6_PREFIX = 48

UNKNOWN = "unknown"  # Mailgun's value in client-info
UNKNOWN_PLACE = "Unknown"  # Mailgun's value in geolocation
CLIENT_TYPES: frozenset[str] = frozenset(
    {"browser", "mobile browser", "email client", "library", "robot", "other", UNKNOWN}
)
DEVICE_TYPES: frozenset[str] = frozenset({"desktop", "mobile", "tablet", "other", UNKNOWN})

# ua-parser families that are mail programs rather than browsers.
_EMAIL_CLIENTS = frozenset(
    {
        "Apple Mail", "Outlook", "Outlook-iOS", "Outlook-Android", "Thunderbird", "Airmail",
        "Spark", "Postbox", "Lotus Notes", "Windows Live Mail", "Barca", "Eudora", "Evolution",
        "Sparrow", "The Bat!", "Mailbird", "eM Client", "Canary Mail", "BlueMail",
    }
)
# ua-parser families of HTTP libraries and command-line tools.
_LIBRARIES = frozenset(
    {
        "curl", "Wget", "Python Requests", "Python-urllib", "Go-http-client", "okhttp", "Java",
        "libwww-perl", "aiohttp", "httpx", "Apache-HttpClient", "node-fetch", "axios",
        "PycURL", "PHP", "Ruby", "Guzzle", "HTTPie", "Dart",
    }
)
_DESKTOP_OSES = frozenset(
    {
        "Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "Debian", "FreeBSD",
        "OpenBSD", "NetBSD", "Red Hat", "Mint", "Solaris", "Windows NT", "Windows XP",
    }
)
_MOBILE_OSES = frozenset(
    {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS", "Symbian OS"}
)
# ua-parser's name for iOS apps showing HTML in a web view without Safari's own token: for a
# tracking pixel that is, nearly always, the Mail app (its macOS counterpart is "Apple Mail").
_IOS_WEB_VIEW = "Mobile Safari UI/WKWebView"
# Unicode categories removed from a user agent: controls, format characters (bidi overrides,
# zero-width marks), lone surrogates, private use, line and paragraph separators.
_STRIPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How much of a reader's address is kept, and where geolocation comes from."""

    ip_policy: IpPolicy = "truncate"
    geoip_database: Path | None = None

    def __post_init__(self) -> None:
        if self.ip_policy not in IP_POLICIES:
            raise ValueError(f"ip_policy must be one of {', '.join(IP_POLICIES)}, not {self.ip_policy!r}")


class ClientDescription(NamedTuple):
    """The ``client-info``, ``geolocation`` and ``ip`` of one tracked hit, in Mailgun's shape."""

    client_info: dict[str, str]
    geolocation: dict[str, str] | None
    ip: str | None


class ParsedAgent(NamedTuple):
    """The parts of a user agent the rest of the plugin reads: names, not versions."""

    family: str
    os: str
    device: str
    brand: str


def printable(text: object, limit: int) -> str:
    """``text`` without control or invisible characters, whitespace collapsed, cut to ``limit``."""
    if not isinstance(text, str):
        return ""
    kept = "".join(
        " " if char in "\t\r\n" else char
        for char in text[: 4 * limit]
        if char in "\t\r\n" or unicodedata.category(char) not in _STRIPPED_CATEGORIES
    )
    return " ".join(kept.split())[:limit]


def clean_user_agent(user_agent: object) -> str:
    """The header as it may be stored: printable text only, at most ``MAX_USER_AGENT`` long."""
    if not isinstance(user_agent, str):
        return ""
    # printable() never looks past 4 * limit characters, so that prefix is the whole cache key.
    return _clean_user_agent(user_agent[: 4 * MAX_USER_AGENT])


@lru_cache(maxsize=4096)
def _clean_user_agent(user_agent: str) -> str:
    return printable(user_agent, MAX_USER_AGENT)


@lru_cache(maxsize=4096)
def parse_agent(cleaned: str) -> ParsedAgent:
    """ua-parser's reading of a cleaned user agent (cached; "" for anything it cannot name)."""
    try:
        result = ua_parser.parse(cleaned)
    except Exception:  # noqa: BLE001 - a parser bug must never lose a hit
        log.warning("ua-parser failed on a user agent of %d characters", len(cleaned))
        return ParsedAgent("", "", "", "")
    agent, os, device = result.user_agent, result.os, result.device
    return ParsedAgent(
        family=_named(agent.family if agent else None),
        os=_named(os.family if os else None),
        device=_named(device.family if device else None),
        brand=_named(device.brand if device else None),
    )


def _named(value: str | None) -> str:
    return "" if value in (None, "", "Other") else str(value)


def client_info(user_agent: str) -> dict[str, str]:
    """Mailgun's ``client-info`` (without ``bot``, which the machine rules decide)."""
    cleaned = clean_user_agent(user_agent)
    return dict(_client_info(cleaned))


@lru_cache(maxsize=4096)
def _client_info(cleaned: str) -> tuple[tuple[str, str], ...]:
    parsed = parse_agent(cleaned)
    name = parsed.family
    if name == _IOS_WEB_VIEW:
        name = "Apple Mail"
    # A proxy's user agent is a costume (Gmail's claims Firefox on Windows XP): no OS, no device.
    proxy = name.endswith("Proxy")
    device_type = UNKNOWN if proxy else _device_type(parsed)
    return (
        ("client-name", name or UNKNOWN),
        ("client-type", "other" if proxy else _client_type(name, parsed, device_type)),
        ("client-os", UNKNOWN if proxy else parsed.os or UNKNOWN),
        ("device-type", device_type),
        ("user-agent", cleaned),
    )


def _client_type(name: str, parsed: ParsedAgent, device_type: str) -> str:
    if parsed.device == "Spider":
        return "robot"
    if name in _EMAIL_CLIENTS:
        return "email client"
    if name in _LIBRARIES:
        return "library"
    if not name:
        return UNKNOWN
    if device_type in ("mobile", "tablet"):
        return "mobile browser"
    return "browser"


def _device_type(parsed: ParsedAgent) -> str:
    if parsed.device == "Spider":
        return "other"
    if parsed.device == "iPad" or "Tablet" in parsed.brand or "Tablet" in parsed.device:
        return "tablet"
    if parsed.device in ("Mac",) or (parsed.os in _DESKTOP_OSES and not parsed.device):
        return "desktop"
    if parsed.os in _MOBILE_OSES or parsed.device:
        return "mobile"
    return UNKNOWN


def parse_ip(ip: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address, IPv4-mapped IPv6 read as IPv4, without a zone; ``None`` if it is not one."""
    if not isinstance(ip, str) or len(ip) > 64:
        return None
    try:
        address = ipaddress.ip_address(ip.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=4096)
def kept_ip(ip: str, policy: IpPolicy) -> str | None:
    """The address as ``policy`` allows it to be stored: whole, truncated to its network, or not.
    Cached: parsing an address costs more than the rest of storing a hit."""
    address = parse_ip(ip)
    if address is None or policy == "drop":
        return None
    if policy == "store":
        return str(address)
    bits, prefix = (32, IPV4_PREFIX) if address.version == 4 else (128, IPV6_PREFIX)
    mask = ((1 << prefix) - 1) << (bits - prefix)
    return str(type(address)(int(address) & mask))


@lru_cache(maxsize=8)
def geoip_reader(database: Path) -> maxminddb.Reader:
    """The database's reader, opened once per path (maxminddb's reader is thread-safe).

    Raises ``OSError`` or ``maxminddb.InvalidDatabaseError`` when the file is missing or not a
    MaxMind DB: call it once at start-up (off the event loop) so a bad path fails loudly there.
    """
    return maxminddb.open_database(str(database), maxminddb.MODE_AUTO)


def geolocation(ip: str, database: Path | None) -> dict[str, str] | None:
    """Mailgun's ``geolocation`` for ``ip``, ``None`` without a database, "Unknown" where unknown."""
    if database is None:
        return None
    try:
        reader = geoip_reader(database)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        log.warning("geolocation database %s cannot be read: %s", database, error)
        return None
    address = parse_ip(ip)
    record: Any = None
    if address is not None:
        try:
            record = reader.get(address)
        except (ValueError, TypeError, maxminddb.InvalidDatabaseError):
            record = None
    return _place(record if isinstance(record, dict) else {})


def _place(record: dict[str, Any]) -> dict[str, str]:
    country = _field(record.get("country"), "iso_code")
    subdivisions = record.get("subdivisions")
    first = subdivisions[0] if isinstance(subdivisions, list) and subdivisions else None
    # GeoLite2 gives subdivision ISO codes ("CA"); DB-IP lite gives names only.
    region = _field(first, "iso_code") or _english_name(first)
    city = _english_name(record.get("city"))
    return {
        "country": country or UNKNOWN_PLACE,
        "region": region or UNKNOWN_PLACE,
        "city": city or UNKNOWN_PLACE,
    }


def _field(part: object, key: str) -> str:
    value = part.get(key) if isinstance(part, dict) else None
    return printable(value, 100)


def _english_name(part: object) -> str:
    names = part.get("names") if isinstance(part, dict) else None
    return _field(names, "en")


def describe_client(user_agent: str, ip: str, settings: ClientSettings) -> ClientDescription:
    """Everything an ``opened``/``clicked`` event says about its reader, per ``settings``."""
    return ClientDescription(
        client_info=client_info(user_agent),
        geolocation=geolocation(ip, settings.geoip_database),
        ip=kept_ip(ip, settings.ip_policy),
    )
