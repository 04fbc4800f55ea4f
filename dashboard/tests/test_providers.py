"""Mailbox providers from the recipient domain, and the seam for hosted domains (MX-based)."""

import pytest

from postgate_dashboard.rollups.providers import LABELS, provider_of


@pytest.mark.parametrize(("domain", "provider"), [
    ("gmail.com", "gmail"), ("GoogleMail.com", "gmail"), ("gmail.com.", "gmail"),
    ("outlook.com", "microsoft"), ("hotmail.co.uk", "microsoft"), ("live.fr", "microsoft"), ("msn.com", "microsoft"),
    ("yahoo.com", "yahoo"), ("yahoo.co.jp", "yahoo"), ("aol.com", "yahoo"), ("ymail.com", "yahoo"),
    ("icloud.com", "icloud"), ("me.com", "icloud"), ("mac.com", "icloud"),
    ("proton.me", "proton"), ("protonmail.com", "proton"), ("pm.me", "proton"),
    # Look-alikes are not the provider.
    ("live.example.org", "other"), ("gmail.example.com", "other"), ("yahoo.evil-domain.com", "other"),
    ("example.com", "other"), ("", "other"),
])
def test_provider_of_a_domain(domain, provider):
    assert provider_of(domain) == provider
    assert provider in LABELS


def test_a_hosted_mapping_wins_over_the_name():
    hosted = {"acme.example": "google_workspace", "corp.example": "microsoft_365"}
    assert provider_of("Acme.Example", hosted) == "google_workspace"
    assert provider_of("corp.example", hosted) == "microsoft_365"
    assert provider_of("gmail.com", hosted) == "gmail"
