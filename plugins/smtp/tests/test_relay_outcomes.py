"""SMTP replies → Mailgun outcomes, envelope addresses, VERP and DATA framing (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postgate_smtp import relay_outcomes as outcomes
from postgate_smtp.envelope import UnusableAddress, envelope_address, verp_address, verp_ids
from postgate_smtp.relay import data_payload


@pytest.mark.parametrize("stage, code, text, permanent, reason, enhanced", [
    ("rcpt", 550, "5.1.1 <a@example.com>: Recipient address rejected: User unknown", True, "bounce", "5.1.1"),
    ("rcpt", 550, "Mailbox unavailable", True, "bounce", "5.0.0"),  # no enhanced code: 550 at RCPT
    ("rcpt", 554, "Relay access denied", True, "generic", "5.0.0"),
    ("rcpt", 550, "5.7.1 Relaying denied", True, "generic", "5.7.1"),
    ("message", 552, "5.2.2 Mailbox full", True, "bounce", "5.2.2"),
    ("message", 554, "5.7.1 Message rejected as spam", True, "generic", "5.7.1"),
    ("message", 552, "5.3.4 Message size exceeds fixed limit", True, "generic", "5.3.4"),
    ("mail", 553, "5.1.8 Sender address rejected: Domain not found", True, "generic", "5.1.8"),
    ("rcpt", 450, "4.2.0 Greylisted", False, "generic", "4.2.0"),
    ("data", 451, "4.3.0 Try again later", False, "generic", "4.3.0"),
    ("rcpt", 450, "5.1.1 wrong class", False, "generic", "4.0.0"),  # enhanced class must match
    ("message", 354, "odd reply", False, "generic", "4.5.0"),
])
def test_refusals_map_to_mailgun_severity_and_reason(stage, code, text, permanent, reason, enhanced):
    result = outcomes.refused(9, stage, code, text)
    assert result.outcome == "failed" and result.recipient_id == 9
    assert (result.permanent, result.reason, result.enhanced_code) == (permanent, reason, enhanced)
    assert result.message.endswith(text.replace("\n", " ").strip()[-20:])


def test_delivered_keeps_the_reply_on_one_line():
    result = outcomes.delivered(3, 250, "2.0.0 Ok: queued as 4F3A\nsecond line\u2028x", provider_id="mid@x")
    assert (result.outcome, result.provider_id) == ("delivered", "mid@x")
    assert result.message == "250 2.0.0 Ok: queued as 4F3A second line x"


def test_connection_trouble_is_temporary():
    for trouble, code, enhanced in (("unreachable", 421, "4.4.1"), ("lost", 421, "4.4.2"), ("tls", 421, "4.7.0"),
                                    ("auth", 454, "4.7.8")):
        result = outcomes.temporary(1, trouble, "x")
        assert (result.permanent, result.code, result.enhanced_code) == (False, code, enhanced)
    assert outcomes.in_doubt(1, "lost").outcome == "unknown"


def test_envelope_addresses():
    assert envelope_address("user@bücher.example").address == "user@xn--bcher-kva.example"
    assert envelope_address("usér@example.com").utf8
    assert not envelope_address("  a@example.com ").utf8
    for bad in ("no-at-sign", "a@", "@b", "a\r\nRCPT TO:<x@y>@example.com", "a b@example.com", "a@exa\u2028mple.com",
                "a@ex\x00ample.com", "<a>@example.com"):
        with pytest.raises(UnusableAddress):
            envelope_address(bad)


def test_verp_round_trip():
    address = verp_address("bounces@bounce.example.com", 12, 3456)
    assert address == "bounces+pg12-3456@bounce.example.com"
    assert verp_ids(address) == (12, 3456)
    assert verp_ids("Bounces+PG12-3456@BOUNCE.example.com") == (12, 3456)
    assert verp_ids("bounces@bounce.example.com") is None


def test_data_payload_frames_the_message():
    assert data_payload(b"Subject: x\n\n.hidden\nline\r\n..two") == b"Subject: x\r\n\r\n..hidden\r\nline\r\n...two\r\n.\r\n"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_data_payload_never_ends_the_message_early(raw):
    payload = data_payload(raw)
    assert payload.endswith(b"\r\n.\r\n")
    lines = payload[:-3].split(b"\r\n")
    assert lines[-1] == b"" and b"." not in lines[:-1]  # only the final line is a lone dot
    assert b"\r" not in b"".join(lines) and b"\n" not in b"".join(lines)
