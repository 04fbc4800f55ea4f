"""Tell people from machines on tracked opens and clicks, the way Mailgun's ``client-info.bot`` does.

What can be told, honestly:

- Gmail's and Yahoo's image proxies name themselves in the user agent. Their fetch follows a
  real display of the message (cached afterwards), so they count a person, not a device.
- Apple's Mail Privacy Protection (MPP) prefetches every image of every message delivered to
  Apple Mail with the setting on, whether or not anyone reads it. It sends a bare
  ``Mozilla/5.0`` or the same user agent as Apple Mail itself, from Apple's 17.0.0.0/8 or from
  Private Relay egress addresses. A bare ``Mozilla/5.0`` and Apple's own network are flagged; an
  MPP fetch through a relay partner with Apple Mail's exact user agent cannot be told apart
  from a person reading in Apple Mail, and is not.
- Security gateways (Microsoft Defender Safe Links, Mimecast, Proofpoint, Barracuda, ...) follow
  links at delivery time, often with an ordinary browser's user agent. They are caught by name
  when they give it, by Microsoft's published mail-protection networks, by timing (clicks within
  seconds of delivery), by method (HEAD) and by behaviour (every link of a message at once). A
  gateway that waits, uses a browser and a cloud address, and clicks one link is not caught.

Everything here is pure and deterministic, and never raises on hostile input.
"""

from __future__ import annotations

import ipaddress
import math
from functools import lru_cache
from typing import Literal, NamedTuple

from postgate_tracking import machine_rules as rules
from postgate_tracking.clients import clean_user_agent, parse_agent, parse_ip

Policy = Literal["label", "drop-scanners", "drop-machines"]
POLICIES: tuple[str, ...] = ("label", "drop-scanners", "drop-machines")
DEFAULT_POLICY: Policy = "drop-scanners"
BOTS: frozenset[str] = frozenset({"", "apple", "gmail", "generic"})


class MachineVerdict(NamedTuple):
    """``bot`` as in Mailgun's ``client-info.bot`` ("" for a person); ``rule`` names what fired."""

    bot: str
    rule: str


PERSON = MachineVerdict("", "")


def classify_open(
    user_agent: str, ip: str, method: str, seconds_since_delivery: float | None
) -> MachineVerdict:
    """Who fetched the open pixel: a person, Apple's or Gmail's proxy, or another machine.

    ``seconds_since_delivery`` is accepted like the click's but not judged: Apple's prefetch and a
    reader watching the inbox both open at once, and only the agent and network tell them apart.
    """
    verdict = _common(user_agent, method)
    if verdict is not None:
        return verdict
    cleaned = clean_user_agent(user_agent)
    return _open_by_agent(cleaned) or _by_network(ip, opens=True) or PERSON


def classify_click(
    user_agent: str,
    ip: str,
    method: str,
    seconds_since_delivery: float | None,
    links_clicked_in_window: int,
    total_links: int,
) -> MachineVerdict:
    """Who followed a tracked link: a person or a scanner ("generic").

    ``links_clicked_in_window`` counts the distinct links of this message clicked in the
    caller's short window, this one included; ``total_links`` counts the message's tracked links.
    """
    verdict = _common(user_agent, method)
    if verdict is not None:
        return verdict
    cleaned = clean_user_agent(user_agent)
    scanner = _scanner_by_agent(cleaned) or _by_network(ip, opens=False)
    if scanner is not None:
        return scanner
    if _too_soon(seconds_since_delivery):
        return MachineVerdict("generic", rules.TOO_SOON_RULE)
    if _all_links(links_clicked_in_window, total_links):
        return MachineVerdict("generic", rules.ALL_LINKS_RULE)
    return PERSON


def visible(verdict: MachineVerdict, policy: str, kind: str) -> bool:
    """Whether an event with ``verdict`` reaches ``GET /events`` under the domain's ``policy``.

    - ``label``: everything is shown, machines labelled in ``client-info.bot``.
    - ``drop-scanners`` (default): scanners are hidden, proxies shown. A proxy open (Apple,
      Gmail, Yahoo) stands for a delivered message in a real inbox, and Gmail's and Yahoo's for
      a real display; hiding them would put Ghost's open rate near zero for most audiences.
      A scanner stands for nobody. Clicks only ever have scanner verdicts.
    - ``drop-machines``: only people are shown.

    An unknown policy or kind is treated as the default; raw hits are kept whatever this says.
    """
    if not verdict.bot and not verdict.rule:
        return True
    if policy == "label":
        return True
    if policy == "drop-machines":
        return False
    rule_kind = rules.RULE_KINDS.get(verdict.rule, "scanner")
    return kind == "open" and rule_kind == "proxy"


def _common(user_agent: object, method: object) -> MachineVerdict | None:
    if not isinstance(method, str) or method.upper() != "GET":
        return MachineVerdict("generic", rules.METHOD_RULE)
    if not clean_user_agent(user_agent):
        return MachineVerdict("generic", rules.EMPTY_AGENT_RULE)
    return None


@lru_cache(maxsize=4096)
def _open_by_agent(cleaned: str) -> MachineVerdict | None:
    for rule in rules.OPEN_PROXY_AGENTS:
        if rule.pattern.search(cleaned):
            return MachineVerdict(rule.bot, rule.name)
    return _scanner_by_agent(cleaned)


@lru_cache(maxsize=4096)
def _scanner_by_agent(cleaned: str) -> MachineVerdict | None:
    for rule in rules.SCANNER_AGENTS:
        if rule.pattern.search(cleaned):
            return MachineVerdict(rule.bot, rule.name)
    parsed = parse_agent(cleaned)
    # ua-parser's crawler list; proxies it counts as crawlers are matched by name above.
    if parsed.device == "Spider" and not parsed.family.endswith("Proxy"):
        return MachineVerdict("generic", rules.SPIDER_RULE)
    return None


@lru_cache(maxsize=4096)
def _by_network(ip: str, opens: bool) -> MachineVerdict | None:
    """Cached per address: parsing it costs more than the rest of judging a hit."""
    address = parse_ip(ip)
    if address is None:
        return None
    return _network_verdict(address, opens)


@lru_cache(maxsize=4096)
def _network_verdict(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, opens: bool
) -> MachineVerdict | None:
    # Apple's network on a click is a person behind Private Relay or at Apple: only opens count.
    network_rules = (rules.APPLE_NETWORKS, rules.MICROSOFT_NETWORKS) if opens else (
        rules.MICROSOFT_NETWORKS,
    )
    for rule in network_rules:
        if any(address in network for network in rule.networks):
            return MachineVerdict(rule.bot, rule.name)
    return None


def _too_soon(seconds_since_delivery: object) -> bool:
    if not isinstance(seconds_since_delivery, (int, float)) or isinstance(
        seconds_since_delivery, bool
    ):
        return False
    if math.isnan(seconds_since_delivery):
        return False
    # A click "before" delivery (clock skew between provider and gateway) is also at delivery.
    return seconds_since_delivery < rules.CLICK_TOO_SOON_SECONDS


def _all_links(clicked: object, total: object) -> bool:
    if not isinstance(clicked, int) or not isinstance(total, int):
        return False
    return total >= rules.ALL_LINKS_MINIMUM and clicked >= total
