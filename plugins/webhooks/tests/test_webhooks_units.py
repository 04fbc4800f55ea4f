"""The pieces on their own: Mailgun's signature (the documented test vector), which events go to
which webhook, what the SSRF guard calls public, URL syntax under hostile input, the breaker,
durations as text."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from postgate_webhooks.breaker import Breakers
from postgate_webhooks.commands import duration_text
from postgate_webhooks.names import webhook_for
from postgate_webhooks.poster import body_for
from postgate_webhooks.settings import WebhooksSettings
from postgate_webhooks.signing import account_of, signature
from postgate_webhooks.targets import TargetRefused, checked_url, is_public


def test_signature_matches_the_documented_vector() -> None:
    assert signature("whsec-example-signing-key", "1529006854", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0") \
        == "fe23a478bb8a27bcb0e65429904b7c58f98c522b5a50e17572375e81a038573b"


def test_body_wraps_the_event_unchanged() -> None:
    import json

    body = json.loads(body_for("k", '{"id":"x","event":"delivered"}', 1529006854.9))
    assert body["event-data"] == {"id": "x", "event": "delivered"}
    assert body["signature"]["timestamp"] == "1529006854"
    assert body["signature"]["signature"] == signature("k", "1529006854", body["signature"]["token"])


@pytest.mark.parametrize(("event", "severity", "webhook"), [
    ("accepted", None, "accepted"), ("delivered", None, "delivered"), ("opened", None, "opened"),
    ("clicked", None, "clicked"), ("unsubscribed", None, "unsubscribed"), ("complained", None, "complained"),
    ("failed", "permanent", "permanent_fail"), ("failed", "temporary", "temporary_fail"),
    ("stored", None, None), ("rejected", None, None),
])
def test_events_map_to_mailguns_webhooks(event, severity, webhook) -> None:
    assert webhook_for(event, severity) == webhook


def test_accounts_are_the_domains_sharing_a_key() -> None:
    keys = {"b.example": "k1", "a.example": "k1", "c.example": "k2", "d.example": None}
    assert account_of(keys, "b.example") == "a.example"
    assert account_of(keys, "c.example") == "c.example"
    assert account_of(keys, "d.example") == "d.example"


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1",
                                     "::ffff:10.0.0.1", "255.255.255.255", "192.0.2.1"])
def test_internal_addresses_are_not_public(address) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::ffff:8.8.8.8"])
def test_global_addresses_are_public(address) -> None:
    assert is_public(ipaddress.ip_address(address))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_checked_url_or_refused(text) -> None:
    try:
        url = checked_url(text)
    except TargetRefused as exc:
        assert str(exc)
    else:
        assert url.isascii() and url.isprintable() and url.lower().startswith(("http://", "https://"))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_urls_with_anything_appended_stay_safe(tail) -> None:
    try:
        url = checked_url("https://example.com/" + tail)
    except TargetRefused:
        assert not ("https://example.com/" + tail).isprintable() or " " in tail or not tail.isascii()
    else:
        assert "\r" not in url and "\n" not in url and "\x00" not in url


def test_breaker_opens_after_the_threshold_and_doubles_on_failed_trials() -> None:
    breakers = Breakers(threshold=2, pause=10)
    assert breakers.failed("u", 0) is None
    assert breakers.failed("u", 0) == 10
    assert breakers.is_open("u", 5) and breakers.open_urls(5) == ["u"]
    assert breakers.failed("u", 5) is None  # a POST still in flight when it opened
    assert breakers.on_trial("u", 11) and not breakers.is_open("u", 11)
    assert breakers.failed("u", 11) == 31  # the trial failed: twice as long
    breakers.succeeded("u")
    assert not breakers.is_open("u", 12) and not breakers.on_trial("u", 40)


@pytest.mark.parametrize(("deliver", "serving", "worker"), [
    (True, True, True), ("all", True, True), ("workers", False, True), (False, False, False)])
def test_deliver_says_which_processes_deliver(deliver, serving, worker) -> None:
    chosen = WebhooksSettings(deliver=deliver)
    assert (chosen.delivers_here(serving=True), chosen.delivers_here(serving=False)) == (serving, worker)


@pytest.mark.parametrize("deliver", ["sometimes", "ALL", "", "workers\n", None])
def test_other_deliver_values_are_refused(deliver) -> None:
    with pytest.raises(ValidationError):
        WebhooksSettings(deliver=deliver)


@pytest.mark.parametrize(("ms", "text"), [(None, "-"), (0.04, "0.0 ms"), (3.25, "3.2 ms"), (9.94, "9.9 ms"),
                                          (42.4, "42 ms"), (999.4, "999 ms"), (1500.0, "1.5 s"), (61_000.0, "61.0 s")])
def test_durations_read_as_people_say_them(ms, text) -> None:
    assert duration_text(ms) == text
