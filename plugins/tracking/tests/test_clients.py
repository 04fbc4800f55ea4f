"""Client descriptions: Mailgun's client-info from real user agents, IP policies, geolocation."""

from __future__ import annotations

from pathlib import Path

import maxminddb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from postgate_tracking.clients import (
    CLIENT_TYPES,
    DEVICE_TYPES,
    MAX_USER_AGENT,
    ClientDescription,
    ClientSettings,
    clean_user_agent,
    describe_client,
    geoip_reader,
    kept_ip,
)

APPLE_MAIL_MACOS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
APPLE_MAIL_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
OUTLOOK_DESKTOP = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)"
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
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
CURL = "curl/8.5.0"
PYTHON_REQUESTS = "python-requests/2.31.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

# user agent -> (client-name, client-type, client-os, device-type)
CLIENTS = [
    (APPLE_MAIL_MACOS, ("Apple Mail", "email client", "Mac OS X", "desktop")),
    (APPLE_MAIL_IOS, ("Apple Mail", "email client", "iOS", "mobile")),
    (OUTLOOK_DESKTOP, ("Outlook", "email client", "Windows", "desktop")),
    (OUTLOOK_IOS, ("Outlook-iOS", "email client", "iOS", "mobile")),
    (GMAIL_PROXY, ("GmailImageProxy", "other", "unknown", "unknown")),
    (YAHOO_PROXY, ("YahooMailProxy", "other", "unknown", "unknown")),
    (THUNDERBIRD, ("Thunderbird", "email client", "Linux", "desktop")),
    (CHROME_DESKTOP, ("Chrome", "browser", "Windows", "desktop")),
    (SAFARI_IOS, ("Mobile Safari", "mobile browser", "iOS", "mobile")),
    (SAFARI_IPAD, ("Mobile Safari", "mobile browser", "iOS", "tablet")),
    (CHROME_ANDROID, ("Chrome Mobile", "mobile browser", "Android", "mobile")),
    (CURL, ("curl", "library", "unknown", "unknown")),
    (PYTHON_REQUESTS, ("Python Requests", "library", "unknown", "unknown")),
    (GOOGLEBOT, ("Googlebot", "robot", "unknown", "other")),
    ("Mozilla/5.0", ("unknown", "unknown", "unknown", "unknown")),
    ("", ("unknown", "unknown", "unknown", "unknown")),
]

KEYS = ["client-name", "client-type", "client-os", "device-type", "user-agent"]
NO_GEO = ClientSettings(ip_policy="store")


@pytest.mark.parametrize(("user_agent", "expected"), CLIENTS, ids=[ua[:30] for ua, _ in CLIENTS])
def test_client_info_of_real_user_agents(user_agent: str, expected: tuple[str, ...]) -> None:
    info = describe_client(user_agent, "198.51.100.4", NO_GEO).client_info
    assert list(info) == KEYS
    assert (info["client-name"], info["client-type"], info["client-os"], info["device-type"]) == (
        expected
    )
    assert info["user-agent"] == user_agent


def test_user_agent_is_cleaned_and_bounded() -> None:
    hostile = "Evil\x00Agent\r\nX-Injected: 1\u202e\u200b" + "A" * 10_000
    info = describe_client(hostile, "198.51.100.4", NO_GEO).client_info
    assert info["user-agent"].startswith("EvilAgent X-Injected: 1AAA")
    assert len(info["user-agent"]) == MAX_USER_AGENT
    assert not any(char in info["user-agent"] for char in "\x00\r\n\u202e\u200b")


@pytest.mark.parametrize(
    ("ip", "policy", "kept"),
    [
        ("198.51.100.77", "truncate", "198.51.100.0"),
        ("198.51.100.77", "store", "198.51.100.77"),
        ("198.51.100.77", "drop", None),
        ("2001:db8:abcd:12:1:2:3:4", "truncate", "2001:db8:abcd::"),
        ("2001:DB8:abcd:0012::1", "store", "2001:db8:abcd:12::1"),
        ("::ffff:203.0.113.9", "truncate", "203.0.113.0"),
        ("::ffff:203.0.113.9", "store", "203.0.113.9"),
        ("fe80::1%eth0", "store", "fe80::1"),
        ("not an address", "store", None),
        ("", "truncate", None),
        ("300.1.1.1", "truncate", None),
    ],
)
def test_ip_policies(ip: str, policy: str, kept: str | None) -> None:
    assert kept_ip(ip, policy) == kept  # type: ignore[arg-type]
    assert describe_client(CHROME_DESKTOP, ip, ClientSettings(ip_policy=policy)).ip == kept  # type: ignore[arg-type]


def test_default_policy_truncates() -> None:
    assert ClientSettings().ip_policy == "truncate"
    assert describe_client(CHROME_DESKTOP, "192.0.2.200", ClientSettings()).ip == "192.0.2.0"


# A tiny MaxMind DB in GeoLite2-City's shape, plus one network in DB-IP lite's (names only).
GEO_RECORDS = {
    "198.51.100.0/24": {
        "country": {"iso_code": "US", "names": {"en": "United States"}},
        "subdivisions": [{"iso_code": "CA", "names": {"en": "California"}}],
        "city": {"names": {"en": "San Francisco"}},
    },
    "2001:db8:1::/48": {
        "country": {"iso_code": "DE", "names": {"en": "Germany"}},
        "subdivisions": [{"iso_code": "BE", "names": {"en": "Berlin"}}],
        "city": {"names": {"en": "Berlin"}},
    },
    "203.0.113.0/24": {
        "country": {"iso_code": "FR"},
        "subdivisions": [{"names": {"en": "Île-de-France"}}],
    },
    "192.0.2.0/24": {"country": {"iso_code": "NL"}},
}


@pytest.fixture(scope="module")
def geo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City")
    for network, record in GEO_RECORDS.items():
        writer.insert_network(IPSet([network]), record)
    path = tmp_path_factory.mktemp("geo") / "city.mmdb"
    writer.to_db_file(str(path))
    return path


@pytest.mark.parametrize(
    ("ip", "place"),
    [
        ("198.51.100.4", {"country": "US", "region": "CA", "city": "San Francisco"}),
        ("::ffff:198.51.100.4", {"country": "US", "region": "CA", "city": "San Francisco"}),
        ("2001:db8:1:2::9", {"country": "DE", "region": "BE", "city": "Berlin"}),
        ("203.0.113.50", {"country": "FR", "region": "Île-de-France", "city": "Unknown"}),
        ("192.0.2.1", {"country": "NL", "region": "Unknown", "city": "Unknown"}),
        ("10.1.2.3", {"country": "Unknown", "region": "Unknown", "city": "Unknown"}),
        ("garbage", {"country": "Unknown", "region": "Unknown", "city": "Unknown"}),
    ],
)
def test_geolocation_from_the_operators_database(geo_database: Path, ip: str, place: dict) -> None:
    described = describe_client(CHROME_DESKTOP, ip, ClientSettings(geoip_database=geo_database))
    assert described.geolocation == place


def test_geolocation_uses_the_full_address_but_stores_the_truncated_one(geo_database: Path) -> None:
    described = describe_client(
        CHROME_DESKTOP, "198.51.100.4", ClientSettings(ip_policy="drop", geoip_database=geo_database)
    )
    assert described == ClientDescription(
        client_info=described.client_info,
        geolocation={"country": "US", "region": "CA", "city": "San Francisco"},
        ip=None,
    )


def test_no_database_means_no_geolocation() -> None:
    assert describe_client(CHROME_DESKTOP, "198.51.100.4", ClientSettings()).geolocation is None


def test_reader_is_opened_once(geo_database: Path) -> None:
    assert geoip_reader(geo_database) is geoip_reader(geo_database)


def test_a_bad_database_fails_at_start_up_not_per_hit(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"not a maxmind database")
    with pytest.raises((OSError, ValueError, maxminddb.InvalidDatabaseError)):
        geoip_reader(broken)
    described = describe_client(CHROME_DESKTOP, "198.51.100.4", ClientSettings(geoip_database=broken))
    assert described.geolocation is None
    assert described.client_info["client-name"] == "Chrome"


ips = st.one_of(
    st.ip_addresses().map(str),
    st.text(max_size=60),
    st.sampled_from(["::ffff:1.2.3.4", "1.2.3.4%x", "::", "0.0.0.0", " 1.2.3.4 "]),
)
user_agents = st.one_of(
    st.text(max_size=3000),
    st.binary(max_size=600).map(lambda raw: raw.decode("latin-1")),
    st.sampled_from([ua for ua, _ in CLIENTS]).flatmap(
        lambda ua: st.text(max_size=40).map(lambda noise: ua + noise)
    ),
)


@settings(max_examples=300, deadline=None)
@given(user_agent=user_agents, ip=ips, policy=st.sampled_from(["store", "truncate", "drop"]))
def test_nothing_raises_and_values_stay_in_vocabulary(
    user_agent: str, ip: str, policy: str, geo_database: Path
) -> None:
    described = describe_client(
        user_agent, ip, ClientSettings(ip_policy=policy, geoip_database=geo_database)  # type: ignore[arg-type]
    )
    info = described.client_info
    assert list(info) == KEYS
    assert info["client-type"] in CLIENT_TYPES
    assert info["device-type"] in DEVICE_TYPES
    assert info["user-agent"] == clean_user_agent(user_agent)
    assert len(info["user-agent"]) <= MAX_USER_AGENT
    assert info["user-agent"].isprintable()
    assert all(value and value.isprintable() for value in info.values() if value != info["user-agent"])
    assert described.geolocation is not None and set(described.geolocation) == {
        "country", "region", "city",
    }
    if policy == "drop":
        assert described.ip is None
    if described.ip is not None:
        assert described.ip == kept_ip(described.ip, "store")


def test_an_unknown_ip_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="store, truncate, drop"):
        ClientSettings(ip_policy="keep-some")  # type: ignore[arg-type]
