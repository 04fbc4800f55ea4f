"""Machine verdicts on opens and clicks from real user agents, and which events a policy shows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postgate_tracking import machine_rules
from postgate_tracking.machines import (
    BOTS,
    PERSON,
    MachineVerdict,
    classify_click,
    classify_open,
    visible,
)

APPLE_MAIL_MACOS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
APPLE_MAIL_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
OUTLOOK_DESKTOP = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)"
OUTLOOK_WORD_RENDERER = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
OUTLOOK_IOS = "Outlook-iOS/723.4027091.prod.iphone (4.2349.0)"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0"
CHROME_DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SAFARI_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1"
)
CURL = "curl/8.5.0"
PYTHON_REQUESTS = "python-requests/2.31.0"
BARRACUDA = "Mozilla/5.0 (compatible; Barracuda Sentinel Link Protection)"
MIMECAST = "Mimecast-URL-Protect/1.0"
PROOFPOINT = "Mozilla/5.0 (compatible; Proofpoint URL Defense)"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36"
)
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"

HOME_IP = "198.51.100.4"
APPLE_IP = "17.58.101.12"
MICROSOFT_EOP_IP = "40.107.22.51"
LATER = 3600.0

PEOPLE = [
    APPLE_MAIL_MACOS, APPLE_MAIL_IOS, OUTLOOK_DESKTOP, OUTLOOK_WORD_RENDERER, OUTLOOK_IOS,
    THUNDERBIRD, CHROME_DESKTOP, SAFARI_IOS,
]
SCANNERS = [
    (CURL, "ua:library"),
    (PYTHON_REQUESTS, "ua:library"),
    (BARRACUDA, "ua:barracuda"),
    (MIMECAST, "ua:mimecast"),
    (PROOFPOINT, "ua:proofpoint"),
    (HEADLESS, "ua:headless"),
    (BINGBOT, "ua-parser:spider"),
    ("", "ua:empty"),
    ("\x00\x01\r\n", "ua:empty"),
]


@pytest.mark.parametrize("user_agent", PEOPLE)
def test_people_open_and_click(user_agent: str) -> None:
    assert classify_open(user_agent, HOME_IP, "GET", LATER) == PERSON
    assert classify_click(user_agent, HOME_IP, "GET", LATER, 1, 5) == PERSON


@pytest.mark.parametrize(
    ("user_agent", "ip", "verdict"),
    [
        (GMAIL_PROXY, "66.249.84.10", MachineVerdict("gmail", "ua:GoogleImageProxy")),
        (YAHOO_PROXY, HOME_IP, MachineVerdict("generic", "ua:YahooMailProxy")),
        ("Mozilla/5.0", "172.225.10.1", MachineVerdict("apple", "ua:Mozilla/5.0-only")),
        (APPLE_MAIL_MACOS, APPLE_IP, MachineVerdict("apple", "network:apple")),
        (APPLE_MAIL_IOS, "::ffff:" + APPLE_IP, MachineVerdict("apple", "network:apple")),
        (CHROME_DESKTOP, MICROSOFT_EOP_IP, MachineVerdict("generic", "network:microsoft-eop")),
        (CHROME_DESKTOP, "2a01:111:f400:7e1b::5", MachineVerdict("generic", "network:microsoft-eop")),
    ],
)
def test_proxy_and_network_opens(user_agent: str, ip: str, verdict: MachineVerdict) -> None:
    assert classify_open(user_agent, ip, "GET", LATER) == verdict


@pytest.mark.parametrize(("user_agent", "rule"), SCANNERS)
def test_scanner_agents_on_opens_and_clicks(user_agent: str, rule: str) -> None:
    assert classify_open(user_agent, HOME_IP, "GET", LATER) == MachineVerdict("generic", rule)
    assert classify_click(user_agent, HOME_IP, "GET", LATER, 1, 5) == MachineVerdict("generic", rule)


@pytest.mark.parametrize("method", ["HEAD", "head", "POST", "OPTIONS", ""])
def test_anything_but_get_is_a_machine(method: str) -> None:
    verdict = MachineVerdict("generic", "method:not-GET")
    assert classify_open(APPLE_MAIL_MACOS, HOME_IP, method, LATER) == verdict
    assert classify_click(CHROME_DESKTOP, HOME_IP, method, LATER, 1, 5) == verdict


def test_lowercase_get_is_a_get() -> None:
    assert classify_open(THUNDERBIRD, HOME_IP, "get", LATER) == PERSON


@pytest.mark.parametrize(
    ("seconds", "verdict"),
    [
        (0.4, MachineVerdict("generic", "timing:<10s")),
        (9.9, MachineVerdict("generic", "timing:<10s")),
        (-3.0, MachineVerdict("generic", "timing:<10s")),
        (10.0, PERSON),
        (45.0, PERSON),
        (None, PERSON),
        (float("nan"), PERSON),
    ],
)
def test_clicks_at_delivery_are_scanners(seconds: float | None, verdict: MachineVerdict) -> None:
    assert classify_click(CHROME_DESKTOP, HOME_IP, "GET", seconds, 1, 5) == verdict


def test_opens_at_delivery_are_not_judged_by_timing() -> None:
    # A reader with the mail client open sees new mail at once; only clicks are judged by time.
    assert classify_open(APPLE_MAIL_MACOS, HOME_IP, "GET", 0.5) == PERSON


@pytest.mark.parametrize(
    ("clicked", "total", "verdict"),
    [
        (5, 5, MachineVerdict("generic", "all-links")),
        (2, 2, MachineVerdict("generic", "all-links")),
        (4, 5, PERSON),
        (1, 1, PERSON),  # one link clicked once is what readers do
        (0, 0, PERSON),
    ],
)
def test_every_link_at_once_is_a_scanner(clicked: int, total: int, verdict: MachineVerdict) -> None:
    assert classify_click(CHROME_DESKTOP, HOME_IP, "GET", LATER, clicked, total) == verdict


def test_apple_network_clicks_are_people() -> None:
    # Private Relay and Apple's own offices: a click is a person choosing a link.
    assert classify_click(SAFARI_IOS, APPLE_IP, "GET", LATER, 1, 5) == PERSON


def test_microsoft_network_clicks_are_scanners() -> None:
    verdict = classify_click(CHROME_DESKTOP, MICROSOFT_EOP_IP, "GET", LATER, 1, 5)
    assert verdict == MachineVerdict("generic", "network:microsoft-eop")


def test_rules_are_checked_in_order() -> None:
    # The method is judged first, then the agent, then the network, then behaviour.
    assert classify_click(CURL, MICROSOFT_EOP_IP, "HEAD", 1.0, 5, 5).rule == "method:not-GET"
    assert classify_click(CURL, MICROSOFT_EOP_IP, "GET", 1.0, 5, 5).rule == "ua:library"
    assert classify_click(CHROME_DESKTOP, MICROSOFT_EOP_IP, "GET", 1.0, 5, 5).rule == (
        "network:microsoft-eop"
    )
    assert classify_click(CHROME_DESKTOP, HOME_IP, "GET", 1.0, 5, 5).rule == "timing:<10s"


# verdict, kind -> shown under (label, drop-scanners, drop-machines)
POLICY_TABLE = [
    (PERSON, "open", (True, True, True)),
    (PERSON, "click", (True, True, True)),
    (MachineVerdict("apple", "ua:Mozilla/5.0-only"), "open", (True, True, False)),
    (MachineVerdict("apple", "network:apple"), "open", (True, True, False)),
    (MachineVerdict("gmail", "ua:GoogleImageProxy"), "open", (True, True, False)),
    (MachineVerdict("generic", "ua:YahooMailProxy"), "open", (True, True, False)),
    (MachineVerdict("generic", "ua:barracuda"), "open", (True, False, False)),
    (MachineVerdict("generic", "network:microsoft-eop"), "open", (True, False, False)),
    (MachineVerdict("generic", "ua:library"), "click", (True, False, False)),
    (MachineVerdict("generic", "timing:<10s"), "click", (True, False, False)),
    (MachineVerdict("generic", "all-links"), "click", (True, False, False)),
    (MachineVerdict("generic", "method:not-GET"), "click", (True, False, False)),
    (MachineVerdict("generic", "no-such-rule"), "open", (True, False, False)),
]


@pytest.mark.parametrize(("verdict", "kind", "shown"), POLICY_TABLE)
def test_policy(verdict: MachineVerdict, kind: str, shown: tuple[bool, bool, bool]) -> None:
    policies = ("label", "drop-scanners", "drop-machines")
    assert tuple(visible(verdict, policy, kind) for policy in policies) == shown


def test_every_named_rule_has_a_kind() -> None:
    names = [rule.name for rule in machine_rules.OPEN_PROXY_AGENTS + machine_rules.SCANNER_AGENTS]
    assert len(names) == len(set(names))
    assert set(names) <= set(machine_rules.RULE_KINDS)
    assert set(machine_rules.RULE_KINDS.values()) == {"proxy", "scanner"}


anything = st.one_of(
    st.text(max_size=2000),
    st.binary(max_size=300).map(lambda raw: raw.decode("latin-1")),
    st.sampled_from(PEOPLE + [ua for ua, _ in SCANNERS] + [GMAIL_PROXY, YAHOO_PROXY, "Mozilla/5.0"]),
)
ips = st.one_of(st.ip_addresses().map(str), st.text(max_size=50))
methods = st.one_of(st.sampled_from(["GET", "HEAD", "POST"]), st.text(max_size=10))
seconds = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
counts = st.integers(min_value=-5, max_value=10**6)
rule_names = set(machine_rules.RULE_KINDS) | {""}


@settings(max_examples=300, deadline=None)
@given(user_agent=anything, ip=ips, method=methods, since=seconds, clicked=counts, total=counts)
def test_nothing_raises_and_verdicts_stay_in_vocabulary(
    user_agent: str, ip: str, method: str, since: float | None, clicked: int, total: int
) -> None:
    for verdict in (
        classify_open(user_agent, ip, method, since),
        classify_click(user_agent, ip, method, since, clicked, total),
    ):
        assert verdict.bot in BOTS
        assert verdict.rule in rule_names
        assert (verdict.bot == "") == (verdict.rule == "")
        for policy in ("label", "drop-scanners", "drop-machines"):
            assert visible(verdict, policy, "open") in (True, False)
    assert classify_open(user_agent, ip, method, since) == classify_open(user_agent, ip, method, since)


@settings(max_examples=100, deadline=None)
@given(user_agent=anything, ip=ips)
def test_head_is_never_a_person(user_agent: str, ip: str) -> None:
    assert classify_open(user_agent, ip, "HEAD", LATER).bot == "generic"
    assert classify_click(user_agent, ip, "HEAD", LATER, 1, 5).bot == "generic"
