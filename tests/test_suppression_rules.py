"""Which recipients a send drops because of suppression lists (contract §4.6)."""

from __future__ import annotations

from postgate.domain import Suppression
from postgate.suppression_rules import BOUNCE, COMPLAINT, UNSUBSCRIBE, Drop, drops_for

D = "mg.example.com"


def bounce(address: str) -> Suppression:
    return Suppression(D, "bounces", address, code=550, error="No such mailbox")


def complaint(address: str) -> Suppression:
    return Suppression(D, "complaints", address)


def unsubscribe(address: str, *tags: str) -> Suppression:
    return Suppression(D, "unsubscribes", address, tags=list(tags))


def whitelist(value: str, kind: str = "address") -> Suppression:
    return Suppression(D, "whitelists", value, kind=kind)


def test_drop_texts_match_the_contract():
    assert BOUNCE == Drop(605, "suppress-bounce", "Not delivering to previously bounced address")
    assert UNSUBSCRIBE == Drop(606, "suppress-unsubscribe", "Not delivering to unsubscribed address")
    assert COMPLAINT == Drop(607, "suppress-complaint",
                             "Not delivering to a user who marked your messages as spam")


def test_nothing_listed_drops_nothing():
    assert drops_for([], ["a@x.com"], ["t"]) == {}


def test_each_list_gives_its_code():
    found = [bounce("b@x.com"), complaint("c@x.com"), unsubscribe("u@x.com", "*")]
    drops = drops_for(found, ["b@x.com", "c@x.com", "u@x.com", "ok@x.com"], [])
    assert drops == {"b@x.com": BOUNCE, "c@x.com": COMPLAINT, "u@x.com": UNSUBSCRIBE}


def test_keys_are_the_addresses_as_given_and_matching_ignores_case():
    drops = drops_for([bounce("alice+x@example.com")], ["Alice+X@Example.COM"], [])
    assert drops == {"Alice+X@Example.COM": BOUNCE}


def test_unsubscribe_tags():
    found = [unsubscribe("star@x.com", "*"), unsubscribe("news@x.com", "Newsletter"),
             unsubscribe("none@x.com")]
    addresses = ["star@x.com", "news@x.com", "none@x.com"]
    assert set(drops_for(found, addresses, ["newsletter"])) == set(addresses)
    assert set(drops_for(found, addresses, ["other"])) == {"star@x.com", "none@x.com"}
    assert set(drops_for(found, addresses, [])) == {"star@x.com", "none@x.com"}


def test_whitelisted_address_or_domain_beats_a_bounce():
    found = [bounce("a@x.com"), whitelist("a@x.com"), bounce("b@trusted.com"),
             whitelist("TRUSTED.com", "domain"), bounce("c@x.com")]
    drops = drops_for(found, ["a@x.com", "b@trusted.com", "c@x.com"], [])
    assert drops == {"c@x.com": BOUNCE}


def test_whitelist_does_not_protect_against_complaints_or_unsubscribes():
    found = [whitelist("x.com", "domain"), complaint("c@x.com"), unsubscribe("u@x.com", "*")]
    assert drops_for(found, ["c@x.com", "u@x.com"], []) == {"c@x.com": COMPLAINT, "u@x.com": UNSUBSCRIBE}


def test_whitelisted_bounce_still_falls_through_to_other_lists():
    found = [bounce("a@x.com"), whitelist("a@x.com"), complaint("a@x.com")]
    assert drops_for(found, ["a@x.com"], []) == {"a@x.com": COMPLAINT}


def test_precedence_bounce_then_complaint_then_unsubscribe():
    everything = [bounce("a@x.com"), complaint("a@x.com"), unsubscribe("a@x.com", "*")]
    assert drops_for(everything, ["a@x.com"], [])["a@x.com"] is BOUNCE
    assert drops_for(everything[1:], ["a@x.com"], [])["a@x.com"] is COMPLAINT


def test_whitelist_entry_for_an_address_does_not_cover_its_domain():
    found = [bounce("a@x.com"), whitelist("b@x.com")]
    assert drops_for(found, ["a@x.com"], []) == {"a@x.com": BOUNCE}
