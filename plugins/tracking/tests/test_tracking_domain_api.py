"""Mailgun's domain tracking settings through the official Python SDK against a live gateway:
``GET /v3/domains/<name>/tracking`` shows what the tracking plugin really does for the domain, and
``PUT …/tracking/open|click|unsubscribe`` changes it, for the mail that follows."""

from __future__ import annotations

import re

import httpx
import pytest
from mailgun.client import Client

from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, basic_auth
from postgate_tracking import plugin
from tracking_helpers import BASE_URL, KEYS, body, outbox, send_batch, tracking_settings, tracking_urls

UPDATED = "Domain tracking settings updated"


@pytest.fixture
def sdk_server(live_server, monkeypatch):
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    server = live_server(plugins=[plugin], plugin_settings=tracking_settings())
    return server, Client(auth=("api", TEST_KEY), api_url=server.url)


def tracking(client: Client) -> dict:
    answer = client.domains_tracking.get(domain=TEST_DOMAIN)
    assert answer.status_code == 200, answer.text
    return answer.json()["tracking"]


def test_settings_show_and_change_what_the_plugin_does(sdk_server) -> None:
    server, client = sdk_server
    assert tracking(client) == {
        "open": {"active": False, "place_at_the_top": False},
        "click": {"active": False},
        "unsubscribe": {"active": True, "html_footer": "", "text_footer": ""},  # signed links are filled in
    }
    answer = client.domains_tracking_open.put(domain=TEST_DOMAIN, data={"active": "yes", "place_at_the_top": "true"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"message": UPDATED, "open": {"active": True, "place_at_the_top": True}}
    answer = client.domains_tracking_click.put(domain=TEST_DOMAIN, data={"active": "htmlonly"})
    assert answer.json() == {"message": UPDATED, "click": {"active": "htmlonly"}}
    answer = client.domains_tracking_unsubscribe.put(domain=TEST_DOMAIN, data={"active": "False"})
    assert answer.json()["unsubscribe"]["active"] is False
    assert tracking(client)["open"] == {"active": True, "place_at_the_top": True}
    assert tracking(client)["click"] == {"active": "htmlonly"}

    # A message that says nothing about tracking now gets what the settings say.
    send_batch(server, ["ann@example.com"], "6740a1b2c3d4e5f6a7b8c9d0")
    mail = outbox(server, 1)[0]
    pixel, links = tracking_urls(mail)
    html = body(mail, "html")
    assert pixel is not None and html.index(pixel) < html.index("Hi ")  # at the top
    assert len(links) == 2
    text = body(mail, "plain")
    assert f"{BASE_URL}/t/c/" not in text and "https://blog.example.com/p/one/" in text  # htmlonly
    assert f"{BASE_URL}/t/u/" not in html + text  # unsubscribe links left alone

    # Switched off again: the next message is not marked.
    assert client.domains_tracking_open.put(domain=TEST_DOMAIN, data={"active": "no"}).json()["open"]["active"] is False
    client.domains_tracking_click.put(domain=TEST_DOMAIN, data={"active": "false"})
    send_batch(server, ["bob@example.com"], "6740a1b2c3d4e5f6a7b8c9d1")
    later = [m for m in outbox(server, 2) if m["To"].addresses[0].addr_spec == "bob@example.com"][0]
    assert tracking_urls(later) == (None, [])


@pytest.mark.parametrize("fields", [
    {"active": "yes\r\nX-Injected: 1"}, {"active": "maybe"}, {"active": "htmlonly"}, {"active": "y\u2028"},
    {"active": "yes\x00"}, {"place_at_the_top": "9" * 5000}, {"active": ""},
])
def test_hostile_open_values_are_refused_and_nothing_is_stored(sdk_server, fields) -> None:
    server, client = sdk_server
    before = tracking(client)
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as http:
        answer = http.put(f"/v3/domains/{TEST_DOMAIN}/tracking/open", data=fields)
    assert answer.status_code == 400 and set(answer.json()) == {"message"}, answer.text
    assert tracking(client) == before


def test_unknown_kind_footers_and_untrackable_domains(live_server, monkeypatch) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    server = live_server(plugins=[plugin], plugin_settings={"tracking": {}})  # no tracking host
    client = Client(auth=("api", TEST_KEY), api_url=server.url)
    assert tracking(client)["open"]["active"] is False and tracking(client)["unsubscribe"]["active"] is False
    with httpx.Client(base_url=server.url, headers=basic_auth(), timeout=30) as http:
        refused = http.put(f"/v3/domains/{TEST_DOMAIN}/tracking/open", data={"active": "yes"})
        assert refused.status_code == 400 and "tracking host" in refused.json()["message"]
        assert http.put(f"/v3/domains/{TEST_DOMAIN}/tracking/bounces", data={"active": "no"}).status_code == 404
        footer = http.put(f"/v3/domains/{TEST_DOMAIN}/tracking/unsubscribe",
                          data={"active": "no", "html_footer": "<p>bye</p>"})
        assert footer.status_code == 400 and "footer" in footer.json()["message"]
        off = http.put(f"/v3/domains/{TEST_DOMAIN}/tracking/click", data={"active": "no"})
        assert off.json() == {"message": UPDATED, "click": {"active": False}}  # switching off is always fine
    # Refused by the core before the body is read, so Hypercorn closes the connection: one each.
    assert httpx.put(f"{server.url}/v3/domains/other.example.com/tracking/open", data={"active": "no"},
                     headers=basic_auth(), timeout=30).status_code == 404
    assert httpx.put(f"{server.url}/v3/domains/{TEST_DOMAIN}/tracking/open", data={"active": "no"},
                     headers={"Authorization": "Basic x"}, timeout=30).status_code == 401


def test_unsubscribe_by_mail_alone_shows_as_on_and_can_be_switched(live_server, monkeypatch) -> None:
    """Without a tracking host but with an ``unsubscribe_mail_domain`` the plugin still fills the
    unsubscribe addresses: the API says so, and lets the switch go off and on again."""
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    mail_domain = "unsub.example.net"
    server = live_server(plugins=[plugin], plugin_settings={"tracking": {"unsubscribe_mail_domain": mail_domain}})
    client = Client(auth=("api", TEST_KEY), api_url=server.url)
    assert tracking(client) == {
        "open": {"active": False, "place_at_the_top": False},
        "click": {"active": False},
        "unsubscribe": {"active": True, "html_footer": "", "text_footer": ""},
    }
    off = client.domains_tracking_unsubscribe.put(domain=TEST_DOMAIN, data={"active": "no"})
    assert off.json() == {"message": UPDATED, "unsubscribe": {"active": False, "html_footer": "", "text_footer": ""}}
    on = client.domains_tracking_unsubscribe.put(domain=TEST_DOMAIN, data={"active": "yes"})
    assert on.status_code == 200, on.text
    assert on.json()["unsubscribe"]["active"] is True and tracking(client)["unsubscribe"]["active"] is True
    refused = client.domains_tracking_open.put(domain=TEST_DOMAIN, data={"active": "yes"})
    assert refused.status_code == 400 and "tracking host" in refused.json()["message"]

    send_batch(server, ["ann@example.com"], "6740a1b2c3d4e5f6a7b8c9e0")
    mail = outbox(server, 1)[0]
    addresses = re.findall(r"<([^>]+)>", str(mail["List-Unsubscribe"]))
    assert any(a.startswith("mailto:u-") and a.endswith("@" + mail_domain) for a in addresses), addresses
