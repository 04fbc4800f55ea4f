"""The built-in ``events_recorded`` listener that fills the suppression lists (§4.6)."""

from __future__ import annotations

import itertools

import pytest

from postgate.domain import Event, Suppression
from postgate.testing.fixtures import TEST_DOMAIN

OTHER = "other.example.com"
_keys = itertools.count()


@pytest.fixture
async def gateway(gateway_factory):
    gw = gateway_factory(domains={OTHER: {"api_key": "key-other"}})
    async with gw:
        yield gw


def failed(recipient, *, severity="permanent", reason="bounce", code=550,
           message="5.1.1 The email account that you tried to reach does not exist.", domain=TEST_DOMAIN):
    payload = {
        "severity": severity, "reason": reason, "recipient": recipient,
        "tags": ["ghost-email", "bulk-email"],
        "delivery-status": {"code": code, "message": message, "description": ""},
        "message": {"headers": {"message-id": "m@mg.example.com"}},
    }
    return Event(domain, "failed", recipient, "m@mg.example.com", payload, key=f"k{next(_keys)}",
                 severity=severity)


def simple(kind, recipient, tags=(), domain=TEST_DOMAIN):
    payload = {"recipient": recipient, "tags": list(tags),
               "message": {"headers": {"message-id": "m@mg.example.com"}}}
    return Event(domain, kind, recipient, "m@mg.example.com", payload, key=f"k{next(_keys)}", tags=list(tags))


async def entries(gateway, list_name, domain=TEST_DOMAIN):
    found = await gateway.storage.list_suppressions(domain, list_name, limit=1000)
    return {e.address: e for e in found}


async def test_hard_bounce_is_added_with_code_and_message(gateway):
    await gateway.record_events([failed("alice+x@example.com", code=551, message="5.1.1 gone")])
    bounce = (await entries(gateway, "bounces"))["alice+x@example.com"]
    assert (bounce.code, bounce.error) == (551, "5.1.1 gone")


@pytest.mark.parametrize(
    ("severity", "reason", "code"),
    [
        ("temporary", "generic", 451),
        ("permanent", "suppress-bounce", 605),
        ("permanent", "suppress-unsubscribe", 606),
        ("permanent", "suppress-complaint", 607),
        ("permanent", "generic", 550),
        ("permanent", "old", 550),
        ("permanent", "espblock", 550),
        ("temporary", "bounce", 452),
    ],
)
async def test_other_failures_are_not_bounces(gateway, severity, reason, code):
    await gateway.record_events([failed("a@example.com", severity=severity, reason=reason, code=code)])
    assert await entries(gateway, "bounces") == {}


async def test_whitelisted_address_or_domain_is_not_added(gateway):
    await gateway.storage.add_suppressions([
        Suppression(TEST_DOMAIN, "whitelists", "Keep@Example.com"),
        Suppression(TEST_DOMAIN, "whitelists", "trusted.com", kind="domain"),
    ])
    await gateway.record_events([failed("keep@example.com"), failed("x@TRUSTED.com"), failed("gone@example.com")])
    assert set(await entries(gateway, "bounces")) == {"gone@example.com"}


async def test_complaints_and_unsubscribes(gateway):
    await gateway.record_events([
        simple("complained", "c@example.com", ["bulk-email"]),
        simple("unsubscribed", "u@example.com", ["ghost-email", "bulk-email"]),
        simple("unsubscribed", "all@example.com"),
        simple("opened", "o@example.com"),
        simple("delivered", "d@example.com"),
    ])
    assert set(await entries(gateway, "complaints")) == {"c@example.com"}
    unsubscribes = await entries(gateway, "unsubscribes")
    assert unsubscribes["u@example.com"].tags == ["ghost-email", "bulk-email"]
    assert unsubscribes["all@example.com"].tags == ["*"]
    assert set(unsubscribes) == {"u@example.com", "all@example.com"}
    assert await entries(gateway, "bounces") == {}


async def test_unsubscribe_widens_an_existing_entry(gateway):
    await gateway.storage.add_suppressions([
        Suppression(TEST_DOMAIN, "unsubscribes", "a@example.com", tags=["news"]),
        Suppression(TEST_DOMAIN, "unsubscribes", "star@example.com", tags=["*"]),
    ])
    await gateway.record_events([simple("unsubscribed", "a@example.com", ["promo", "NEWS"]),
                                 simple("unsubscribed", "star@example.com", ["promo"])])
    unsubscribes = await entries(gateway, "unsubscribes")
    assert unsubscribes["a@example.com"].tags == ["news", "promo"]
    assert unsubscribes["star@example.com"].tags == ["*"]


async def test_whitelist_does_not_stop_complaints(gateway):
    await gateway.storage.add_suppressions([Suppression(TEST_DOMAIN, "whitelists", "example.com", kind="domain")])
    await gateway.record_events([simple("complained", "c@example.com")])
    assert set(await entries(gateway, "complaints")) == {"c@example.com"}


async def test_entries_are_scoped_to_the_event_domain(gateway):
    await gateway.record_events([failed("a@example.com", domain=OTHER), simple("complained", "c@example.com", domain=OTHER)])
    assert await entries(gateway, "bounces") == {}
    assert set(await entries(gateway, "bounces", OTHER)) == {"a@example.com"}
    assert set(await entries(gateway, "complaints", OTHER)) == {"c@example.com"}


async def test_one_lookup_and_one_write_per_call(gateway, monkeypatch):
    calls = []
    storage = gateway.storage
    for name in ("find_suppressions", "add_suppressions"):
        original = getattr(storage, name)

        async def spy(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return await _original(*args, **kwargs)

        monkeypatch.setattr(storage, name, spy)
    await gateway.record_events([failed("a@example.com"), failed("b@example.com"),
                                 simple("complained", "c@example.com"),
                                 simple("unsubscribed", "u@example.com")])
    assert calls == ["find_suppressions", "add_suppressions"]
    calls.clear()
    await gateway.record_events([simple("delivered", "d@example.com")])
    assert calls == []


async def test_a_duplicate_event_is_not_processed_twice(gateway):
    event = failed("a@example.com")
    await gateway.record_events([event])
    await gateway.storage.delete_suppression(TEST_DOMAIN, "bounces", "a@example.com")
    await gateway.record_events([event])
    assert await entries(gateway, "bounces") == {}
