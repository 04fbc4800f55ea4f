"""Tracking end to end on Hypercorn: a Ghost-shaped batch through the outbox, its pixel and links
fetched by a real HTTP client, and the events as Ghost pages them."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import postgate_mysql
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from postgate import ConfigError, EventQuery, Gateway
from postgate.testing.fixtures import TEST_DOMAIN
from postgate.testing.mariadb import temporary_database
from postgate_tracking import plugin
from postgate_tracking.models import TrackingHit
from postgate_tracking.state import tracking_for
from tracking_helpers import (BASE_URL, HTML, KEYS, OUTLOOK, OUTLOOK_END, body, events, local, outbox,
                              send_batch, tracking_settings, tracking_urls)

APPLE_MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
EMAIL_ID = "6740a1b2c3d4e5f6a7b8c9d0"


@pytest.fixture
def server(live_server, monkeypatch):
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    return live_server(plugins=[plugin], plugin_settings=tracking_settings())


@pytest.fixture(params=["sqlite", "mysql"])
async def any_storage_server(request, live_server, monkeypatch):
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    if request.param == "sqlite":
        yield live_server(plugins=[plugin], plugin_settings=tracking_settings())
        return
    async with temporary_database() as url:
        srv = live_server(plugins=[postgate_mysql, plugin], backends={"storage": "mysql"},
                          plugin_settings={"mysql": {"url": url}, **tracking_settings()})
        yield srv
        srv.stop()  # before the database is dropped


def hits(server) -> list[TrackingHit]:
    async def read():
        with server.gateway.storage.orm():
            return await TrackingHit.all().order_by("id")
    return server.run(read())


def later_click(server, url: str, seconds: float = 60.0) -> str:
    """The same tracked link with a token minted as if the message went out ``seconds`` ago."""
    claim = tracking_for(server.gateway).signer.verify("c", url.rsplit("/", 1)[1])
    token = tracking_for(server.gateway).signer.sign("c", claim.batch_id, claim.recipient_id, claim.link,
                                                     rendered_at=time.time() - seconds)
    return f"{BASE_URL}/t/c/{token}"


def test_opens_and_clicks_become_events_ghost_pages(any_storage_server) -> None:
    server = any_storage_server
    send_batch(server, ["ann@example.com", "bob@example.com"], EMAIL_ID, tracking_opens="yes",
               tracking_clicks="yes")
    mails = {m["To"].addresses[0].addr_spec: m for m in outbox(server, 2)}
    pixel, links = tracking_urls(mails["ann@example.com"])
    assert pixel is not None and len(links) == 2
    with httpx.Client(timeout=30) as http:
        image = http.get(local(server, pixel), headers={"User-Agent": APPLE_MAIL})
        assert image.status_code == 200 and image.headers["content-type"] == "image/gif"
        assert "no-store" in image.headers["cache-control"] and image.content.startswith(b"GIF89a")
        # At once after delivery: a security scanner's click, kept out of the events by default.
        at_once = http.get(local(server, links[0]), headers={"User-Agent": CHROME}, follow_redirects=False)
        later = http.get(local(server, later_click(server, links[0])), headers={"User-Agent": CHROME},
                         follow_redirects=False)
    assert at_once.status_code == later.status_code == 302
    assert at_once.headers["location"] == later.headers["location"] == "https://blog.example.com/p/one/?ref=news&utm=1"
    opened = events(server, "opened", 1)
    assert [(e["recipient"], e["message"]["headers"]["message-id"]) for e in opened] == [
        ("ann@example.com", mails["ann@example.com"]["Message-ID"].strip("<>"))]
    assert opened[0]["tags"] == ["ghost-email", "bulk-email"]
    assert opened[0]["user-variables"]["email-id"] == EMAIL_ID
    assert opened[0]["client-info"]["user-agent"] == APPLE_MAIL
    assert opened[0]["client-info"]["bot"] == ""
    assert opened[0]["ip"] == "127.0.0.0"  # truncated by default
    clicked = events(server, "clicked", 1)
    assert [(e["recipient"], e["url"], e["client-info"]["bot"]) for e in clicked] == [
        ("ann@example.com", "https://blog.example.com/p/one/?ref=news&utm=1", "")]
    raw = hits(server)
    assert [(h.kind, h.link_index, h.recorded, h.bot, h.rule) for h in raw] == [
        ("open", None, True, "", ""), ("click", 0, False, "generic", "timing:<10s"), ("click", 0, True, "", "")]
    assert len({h.recipient_id for h in raw}) == 1 and raw[0].ip == "127.0.0.0"


def test_label_shows_machine_hits_with_their_rule(live_server, monkeypatch) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    server = live_server(plugins=[plugin], plugin_settings=tracking_settings(machines="label"))
    send_batch(server, ["ann@example.com"], EMAIL_ID, tracking="yes")
    _, links = tracking_urls(outbox(server, 1)[0])
    with httpx.Client(timeout=30, headers={"User-Agent": CHROME}) as http:
        assert http.get(local(server, links[1]), follow_redirects=False).status_code == 302
    clicked = events(server, "clicked", 1)
    assert [(e["url"], e["client-info"]["bot"], e["machine-rule"]) for e in clicked] == [
        ("https://blog.example.com/p/two/", "generic", "timing:<10s")]


def test_tampered_and_unknown_tokens_get_404_and_head_is_never_recorded(server) -> None:
    send_batch(server, ["ann@example.com"], EMAIL_ID, tracking="yes")
    pixel, links = tracking_urls(outbox(server, 1)[0])
    token = pixel.rsplit("/", 1)[1][:-4]
    key_id, body64 = token.split(".")
    flipped = body64[:-2] + ("A" if body64[-2] != "A" else "B") + body64[-1]
    bad = [f"{key_id}.{flipped}", f"k9.{body64}", "k1.short", token + "x", "x" * 300]
    with httpx.Client(timeout=30) as http:
        for wrong in bad:
            assert http.get(local(server, f"{BASE_URL}/t/o/{wrong}.gif")).status_code == 404, wrong
        click_token = links[0].rsplit("/", 1)[1]
        # An open token is not a click token, and the other way round.
        assert http.get(local(server, f"{BASE_URL}/t/c/{token}")).status_code == 404
        assert http.get(local(server, f"{BASE_URL}/t/o/{click_token}.gif")).status_code == 404
        assert http.head(local(server, pixel)).status_code == 200
        assert http.head(local(server, links[0])).status_code == 302
        assert http.get(local(server, links[1]), follow_redirects=False).status_code == 302  # a marker
    deadline = time.monotonic() + 15
    while not hits(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(h.kind, h.link_index) for h in hits(server)] == [("click", 1)]
    assert events(server, "opened", 0, timeout=0) == []


def test_the_marked_html_keeps_every_byte_but_the_tracked_hrefs(server) -> None:
    send_batch(server, ["ann@example.com"], EMAIL_ID, tracking_opens="true", tracking_clicks="htmlonly")
    mail = outbox(server, 1)[0]
    html = body(mail, "html")
    assert OUTLOOK in html and OUTLOOK_END in html
    pixel, links = tracking_urls(mail)
    restored = html.replace(links[0], "https://blog.example.com/p/one/?ref=news&amp;utm=1")
    restored = restored.replace(links[1], "https://blog.example.com/p/two/")
    restored = restored.replace(f'<img src="{pixel}" width="1" height="1" alt="" '
                                'style="width:1px;height:1px;border:0" />', "")
    unsubscribe = re.search(r'<a href="(https://blog\.example\.com/unsubscribe/[^"]+)">Unsubscribe', html)
    assert unsubscribe is not None  # Ghost's per-recipient unsubscribe link is never rewritten
    expected = HTML.replace("%recipient.name_html%", "Member&nbsp;0")
    # The renderer ends every text part with a line break; nothing else differs.
    assert restored.removesuffix("\r\n") == expected.replace("%recipient.unsubscribe_url%", unsubscribe.group(1))
    assert "/t/c/" not in body(mail, "plain")  # htmlonly


def test_a_message_that_does_not_ask_follows_the_domain_default(live_server, monkeypatch) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    server = live_server(plugins=[plugin], plugin_settings=tracking_settings(
        domains={"mg.example.com": {"opens": True}}))
    send_batch(server, ["ann@example.com"], EMAIL_ID)
    send_batch(server, ["bob@example.com"], "6740a1b2c3d4e5f6a7b8c9d1", tracking_opens="no")
    mails = {m["To"].addresses[0].addr_spec: m for m in outbox(server, 2)}
    assert tracking_urls(mails["ann@example.com"])[0] is not None
    assert tracking_urls(mails["bob@example.com"]) == (None, [])


def city_database(path: Path) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City")
    writer.insert_network(IPSet(["203.0.113.0/24"]), {
        "country": {"iso_code": "FR"}, "subdivisions": [{"iso_code": "IDF"}], "city": {"names": {"en": "Paris"}}})
    writer.to_db_file(str(path))
    return path


def test_behind_a_trusted_proxy_the_forwarded_address_is_located_and_truncated(live_server, monkeypatch,
                                                                              tmp_path) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    server = live_server(plugins=[plugin], plugin_settings=tracking_settings(
        trust_proxy=True, geoip_database=str(city_database(tmp_path / "city.mmdb"))))
    send_batch(server, ["ann@example.com"], EMAIL_ID, tracking_opens="yes")
    pixel, _ = tracking_urls(outbox(server, 1)[0])
    with httpx.Client(timeout=30, headers={"User-Agent": APPLE_MAIL}) as http:
        forwarded = {"X-Forwarded-For": "198.51.100.20, 203.0.113.77"}  # the proxy added the last one
        assert http.get(local(server, pixel), headers=forwarded).status_code == 200
    assert [(e["ip"], e["geolocation"]) for e in events(server, "opened", 1)] == [
        ("203.0.113.0", {"country": "FR", "region": "IDF", "city": "Paris"})]


async def test_a_geolocation_database_that_cannot_be_read_stops_start_up(gateway_factory, monkeypatch,
                                                                        tmp_path) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"not a maxmind database")
    gateway = gateway_factory(plugins=[plugin], plugin_settings=tracking_settings(geoip_database=str(broken)))
    with pytest.raises(ConfigError, match="geoip_database"):
        await gateway.start()


async def test_hits_still_in_memory_are_stored_on_shutdown(live_server, monkeypatch) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    server = live_server(plugins=[plugin], plugin_settings=tracking_settings(flush_seconds=10))
    send_batch(server, ["ann@example.com"], EMAIL_ID, tracking_opens="yes")
    pixel, _ = tracking_urls(outbox(server, 1)[0])
    with httpx.Client(timeout=30, headers={"User-Agent": APPLE_MAIL}) as http:
        for _ in range(3):
            assert http.get(local(server, pixel)).status_code == 200
    assert tracking_for(server.gateway).recorder.stored == 0  # still buffered
    server.stop()
    again = Gateway(server.gateway.settings, plugins=[plugin])
    await again.start()
    try:
        with again.storage.orm():
            assert await TrackingHit.all().count() == 3
        assert len([e for e in await again.storage.page_events(EventQuery(domain=TEST_DOMAIN, ascending=True))
                    if e.event == "opened"]) == 3
    finally:
        await again.stop()


def test_a_domains_own_tracking_host_is_written_and_answers(live_server, monkeypatch) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    own = "https://email.news.example.com"
    server = live_server(plugins=[plugin], plugin_settings=tracking_settings(
        domains={TEST_DOMAIN: {"base_url": own}}))
    send_batch(server, ["ann@example.com"], EMAIL_ID, tracking="yes")
    html = body(outbox(server, 1)[0], "html")
    pixel = re.search(r'<img src="([^"]+\.gif)"', html).group(1)
    links = re.findall(r"""href=["']([^"']+/t/c/[^"']+)["']""", html)
    assert pixel.startswith(own + "/t/o/") and len(links) == 2
    assert all(link.startswith(own + "/t/c/") for link in links) and BASE_URL not in html
    with httpx.Client(timeout=30, headers={"User-Agent": APPLE_MAIL}) as http:
        assert http.get(server.url + pixel[len(own):]).status_code == 200
    assert [e["recipient"] for e in events(server, "opened", 1)] == ["ann@example.com"]


def test_a_domains_own_machine_policy_decides_which_opens_become_events(live_server, monkeypatch) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    server = live_server(plugins=[plugin], plugin_settings=tracking_settings(
        machines="label", domains={TEST_DOMAIN: {"machines": "drop-machines"}}))
    send_batch(server, ["ann@example.com", "bob@example.com"], EMAIL_ID, tracking_opens="yes")
    mails = {m["To"].addresses[0].addr_spec: m for m in outbox(server, 2)}
    gmail_proxy = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    with httpx.Client(timeout=30) as http:
        for address, user_agent in (("bob@example.com", gmail_proxy), ("ann@example.com", APPLE_MAIL)):
            pixel, _ = tracking_urls(mails[address])
            assert http.get(local(server, pixel), headers={"User-Agent": user_agent}).status_code == 200
    assert [e["recipient"] for e in events(server, "opened", 1)] == ["ann@example.com"]
    deadline = time.monotonic() + 15
    while len(hits(server)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(h.bot, h.rule, h.recorded) for h in hits(server)] == [
        ("gmail", "ua:GoogleImageProxy", False), ("", "", True)]
