"""The rules that tell machines from people, as data; docs/tracking-machines.md explains each.

A rule has a name (what an event's extra field says fired), the ``bot`` value Mailgun's
``client-info.bot`` takes for it, and a kind: a ``proxy`` fetches on a person's behalf (Apple's
Mail Privacy Protection, Gmail's and Yahoo's image proxies), a ``scanner`` fetches for nobody
(security gateways, link checkers, scripts). The policy in :mod:`machines` hides by kind.
Rules are tried in the order listed; the first that matches names the verdict.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

Bot = Literal["", "apple", "gmail", "generic"]
RuleKind = Literal["proxy", "scanner"]


@dataclass(frozen=True, slots=True)
class AgentRule:
    """A user-agent pattern (searched case-insensitively) and what a match means."""

    name: str
    bot: Bot
    kind: RuleKind
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class NetworkRule:
    """Address ranges a machine is known to fetch from, and what a hit from them means."""

    name: str
    bot: Bot
    kind: RuleKind
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def _agent(name: str, bot: Bot, kind: RuleKind, pattern: str) -> AgentRule:
    return AgentRule(name, bot, kind, re.compile(pattern, re.IGNORECASE))


def _networks(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Image proxies: they fetch the pixel when (or, for Apple, before) the reader sees the message.
OPEN_PROXY_AGENTS: tuple[AgentRule, ...] = (
    # Gmail fetches every image through its proxy; the UA ends "(via ggpht.com GoogleImageProxy)"
    # (Google's Gmail image-proxy announcement; Mailgun's bot-detection notes).
    _agent("ua:GoogleImageProxy", "gmail", "proxy", r"GoogleImageProxy|ggpht\.com"),
    # Yahoo Mail's proxy names itself and links its help page (YahooMailProxy; help SLN28749).
    # Mailgun has no "yahoo" value, so it is "generic", but kept as a proxy by the policy.
    _agent("ua:YahooMailProxy", "generic", "proxy", r"YahooMailProxy"),
    # Apple's Mail Privacy Protection prefetches with a bare "Mozilla/5.0" (the user agent in
    # Mailgun's documented apple-bot event); no mail client sends that alone.
    _agent("ua:Mozilla/5.0-only", "apple", "proxy", r"\AMozilla/5\.0\Z"),
)

# Scanners and scripts named in their user agent: for opens and clicks alike.
SCANNER_AGENTS: tuple[AgentRule, ...] = (
    # Security gateways that announce themselves (names as senders report them in their logs;
    # most vendors use a browser UA instead, which only the timing and network rules catch).
    _agent("ua:barracuda", "generic", "scanner", r"Barracuda"),
    _agent("ua:mimecast", "generic", "scanner", r"Mimecast"),
    _agent("ua:proofpoint", "generic", "scanner", r"Proofpoint|pphosted"),
    _agent("ua:trendmicro", "generic", "scanner", r"Trend ?Micro"),
    _agent("ua:symantec", "generic", "scanner", r"Symantec|MessageLabs"),
    _agent("ua:sophos", "generic", "scanner", r"Sophos"),
    _agent("ua:fortinet", "generic", "scanner", r"Forti(?:net|Guard|Mail)"),
    _agent("ua:ironport", "generic", "scanner", r"IronPort"),
    _agent("ua:safelinks", "generic", "scanner", r"Safe ?Links|ATP ?Scan"),
    _agent("ua:safebrowsing", "generic", "scanner", r"Safe ?Browsing|Google-Safety"),
    # Link previews from chat and search (Microsoft's own names in the UA).
    _agent("ua:preview", "generic", "scanner", r"BingPreview|SkypeUriPreview|LinkPreview"),
    # Headless browsers drive most sandbox "detonation" of links.
    _agent("ua:headless", "generic", "scanner", r"HeadlessChrome|PhantomJS|Puppeteer|Playwright"),
    # HTTP libraries and tools: no person reads mail with them.
    _agent(
        "ua:library",
        "generic",
        "scanner",
        r"\A(?:curl|Wget|python-requests|Python-urllib|python-httpx|aiohttp|Go-http-client"
        r"|okhttp|Java/|Apache-HttpClient|libwww-perl|node-fetch|axios|Guzzle|HTTPie|PycURL"
        r"|Ruby|PHP/|Dart/|Scrapy)",
    ),
)

# Apple owns 17.0.0.0/8 outright (its registry allocation); MPP's own fetchers come from it.
# Apple's Private Relay egress list is large and changes, so it is not shipped here: an open
# through it looks like a person's Safari, which is what it is meant to look like.
APPLE_NETWORKS = NetworkRule("network:apple", "apple", "proxy", _networks("17.0.0.0/8"))

# Microsoft's mail-protection egress ranges, as listed in spf.protection.outlook.com: Exchange
# Online Protection and Defender for Office 365 fetch links and images from them when scanning.
MICROSOFT_NETWORKS = NetworkRule(
    "network:microsoft-eop",
    "generic",
    "scanner",
    _networks(
        "40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/15", "52.102.0.0/16", "52.103.0.0/17",
        "104.47.0.0/17", "2a01:111:f400::/48", "2a01:111:f403::/48",
    ),
)

# Clicks this soon after delivery are a gateway checking the link as the message arrives: a
# person needs longer to get the notification, open the message and choose a link.
CLICK_TOO_SOON_SECONDS = 10.0
# A click that makes every link of a message (of at least this many) clicked inside the
# caller's window is a scanner walking the links.
ALL_LINKS_MINIMUM = 2

# Rule names that are not patterns, with their meaning for the policy.
METHOD_RULE = "method:not-GET"
EMPTY_AGENT_RULE = "ua:empty"
SPIDER_RULE = "ua-parser:spider"
TOO_SOON_RULE = f"timing:<{CLICK_TOO_SOON_SECONDS:g}s"
ALL_LINKS_RULE = "all-links"

RULE_KINDS: dict[str, RuleKind] = {
    **{rule.name: rule.kind for rule in OPEN_PROXY_AGENTS + SCANNER_AGENTS},
    APPLE_NETWORKS.name: APPLE_NETWORKS.kind,
    MICROSOFT_NETWORKS.name: MICROSOFT_NETWORKS.kind,
    METHOD_RULE: "scanner",
    EMPTY_AGENT_RULE: "scanner",
    SPIDER_RULE: "scanner",
    TOO_SOON_RULE: "scanner",
    ALL_LINKS_RULE: "scanner",
}
