"""Tokens verify only as signed, under any listed key; settings refuse plain-http tracking hosts."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postgate import ConfigError, Gateway
from postgate.testing.fixtures import make_settings
from postgate_tracking import plugin
from postgate_tracking.tokens import OPEN_PART, Signer, TokenClaim, link_part

OLD = ("k1", b"first-secret-0123456789")
NEW = ("k2", b"second-secret-0123456789")


def test_a_token_carries_ids_only_and_verifies_under_rotated_keys() -> None:
    token = Signer([OLD]).sign("c", 7, 123456, 3)
    assert token.startswith("k1.") and "=" not in token and "example" not in token
    assert Signer([NEW, OLD]).verify("c", token) == TokenClaim("c", 7, 123456, 3)
    assert Signer([NEW]).verify("c", token) is None  # the old key was retired
    assert Signer([NEW, OLD]).verify("o", token) is None  # kinds are not interchangeable


IDS = st.integers(min_value=0, max_value=(1 << 48) - 1)


@settings(max_examples=200, deadline=None)
@given(batch_id=IDS, rows=st.lists(IDS, max_size=40), rendered_at=st.floats(min_value=0, max_value=2**32 - 1),
       link=st.integers(min_value=0, max_value=1000))
def test_heads_signed_in_one_pass_verify_as_each_row_s_own(batch_id, rows, rendered_at, link) -> None:
    """A chunk's heads, signed together, are each row's: every one completes an open and a click
    token that verify (with ``hmac.digest``, not the signing path) to that row, in order."""
    signer = Signer([NEW, OLD])
    heads = signer.heads(batch_id, rows, rendered_at)
    assert len(heads) == len(rows)
    for row, head in zip(rows, heads):
        assert signer.verify("o", head + OPEN_PART) == TokenClaim("o", batch_id, row, 0, int(rendered_at))
        assert signer.verify("c", head + link_part(link)) == TokenClaim("c", batch_id, row, link, int(rendered_at))
        assert head == signer.head(batch_id, row, rendered_at)
    assert len(set(heads)) == len(set(rows))


def test_every_changed_byte_is_refused() -> None:
    signer = Signer([OLD])
    token = signer.sign("o", 1, 2)
    key_id, body = token.split(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    for index in range(len(raw)):
        changed = bytearray(raw)
        changed[index] ^= 1
        forged = key_id + "." + base64.urlsafe_b64encode(bytes(changed)).decode().rstrip("=")
        assert signer.verify("o", forged) is None, index
    for junk in ["", ".", "k1.", "k1.!!!!", token + "A", token[:-1], "k1." + body.lower(), "é" * 20]:
        assert signer.verify("o", junk) is None, junk


def gateway(tmp_path, **tracking) -> Gateway:
    return Gateway(make_settings(tmp_path, plugins={"tracking": tracking}), plugins=[plugin])


def test_a_plain_http_tracking_host_is_refused_naming_the_hsts_trap(tmp_path) -> None:
    with pytest.raises(ConfigError, match="includeSubDomains"):
        gateway(tmp_path, base_url="http://email.mg.example.com")
    with pytest.raises(ConfigError, match="includeSubDomains"):
        gateway(tmp_path, base_url="https://email.mg.example.com",
                domains={"mg.example.com": {"base_url": "http://track.example.com"}})


async def test_a_tracking_host_without_signing_keys_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("POSTGATE_TRACKING_KEYS", raising=False)
    with pytest.raises(ConfigError, match="POSTGATE_TRACKING_KEYS holds no signing key"):
        plugin.register_routes(gateway(tmp_path, base_url="https://email.mg.example.com"))
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", "k1:short")
    with pytest.raises(ConfigError, match="at least 16"):
        plugin.register_routes(gateway(tmp_path / "b", base_url="https://email.mg.example.com"))


async def test_an_unsubscribe_mail_domain_needs_keys_and_a_domain_name(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("POSTGATE_TRACKING_KEYS", raising=False)
    with pytest.raises(ConfigError, match="an unsubscribe_mail_domain is set but POSTGATE_TRACKING_KEYS"):
        plugin.register_routes(gateway(tmp_path, unsubscribe_mail_domain="unsubscribe.example.com"))
    for bad in ("example", "Unsubscribe.Example.com", "u@example.com", "a..example.com", "x" * 300 + ".com"):
        with pytest.raises(ConfigError, match="unsubscribe_mail_domain"):
            gateway(tmp_path / "bad", domains={"mg.example.com": {"unsubscribe_mail_domain": bad}})
    settings = gateway(tmp_path / "ok", unsubscribe_mail_domain="unsubscribe.example.com",
                       domains={"mg.example.com": {"unsubscribe_mail_domain": "u.mg.example.com"}},
                       ).plugin_settings("tracking")
    assert settings.for_domain("MG.example.com").unsubscribe_mail_domain == "u.mg.example.com"
    assert settings.for_domain("other.example.com").unsubscribe_mail_domain == "unsubscribe.example.com"
    assert settings.unsubscribe_mail_domains() == {"unsubscribe.example.com", "u.mg.example.com"}
