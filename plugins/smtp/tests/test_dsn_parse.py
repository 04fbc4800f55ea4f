"""The DSN parser on bounces shaped like Postfix's, Exchange's and Gmail's, and on hostile input."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from postgate_smtp.dsn import parse_dsn, reason_of

SAMPLES = Path(__file__).parent / "dsn_samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes().replace(b"\n", b"\r\n")


def test_postfix_hard_bounce_names_its_ledger_row_by_verp():
    (bounce,) = parse_dsn(sample("postfix_user_unknown.eml"))
    assert bounce.recipient == "nobody@example.org"
    assert bounce.permanent and bounce.status == "5.1.1" and bounce.code == 550
    assert bounce.diagnostic.startswith("550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown")
    assert "\n" not in bounce.diagnostic
    assert bounce.verp == (7, 42)
    assert bounce.original_message_id == "6740a1b2c3d4e5f6a7b8c9d0.3f2a@mg.example.com"
    assert bounce.remote_mta == "mx1.example.org"
    assert reason_of(bounce) == "bounce"


def test_postfix_delay_warning_is_temporary():
    (delay,) = parse_dsn(sample("postfix_delayed.eml"))
    assert delay.recipient == "slow@example.net"
    assert not delay.permanent and delay.status == "4.4.1" and delay.code == 450
    assert delay.diagnostic.startswith("connect to mx.example.net[192.0.2.80]:25: Connection timed out")
    assert delay.verp == (7, 43)
    assert reason_of(delay) == "generic"


def test_exchange_ndr_with_the_whole_message_returned():
    (bounce,) = parse_dsn(sample("exchange_not_found.eml"))
    assert bounce.recipient == "gone@corp.example.com"
    assert (bounce.permanent, bounce.status, bounce.code) == (True, "5.1.10", 550)
    assert "RESOLVER.ADR.RecipientNotFound" in bounce.diagnostic
    assert bounce.verp == (7, 44)
    assert bounce.original_message_id == "6740a1b2c3d4e5f6a7b8c9d0.5d2e@mg.example.com"
    assert reason_of(bounce) == "bounce"


def test_gmail_bounce_without_verp_is_matched_by_message_id():
    (bounce,) = parse_dsn(sample("gmail_no_such_user.eml"))
    assert bounce.recipient == "no.such.person.2026@gmail.com"
    assert (bounce.permanent, bounce.status, bounce.code) == (True, "5.1.1", 550)
    assert bounce.diagnostic.startswith("550 5.1.1 The email account that you tried to reach does not exist.")
    assert bounce.verp is None
    assert bounce.original_message_id == "6740a1b2c3d4e5f6a7b8c9d0.6f3a@mg.example.com"
    assert bounce.remote_mta.startswith("gmail-smtp-in.l.google.com")


def test_success_reports_and_plain_mail_give_nothing():
    assert parse_dsn(sample("postfix_success.eml")) == []
    assert parse_dsn(b"From: a@example.com\r\nSubject: out of office\r\n\r\nI am away.\r\n") == []
    assert parse_dsn(b"") == []


def test_a_gave_up_temporary_status_is_a_permanent_failure_of_reason_old():
    raw = sample("postfix_delayed.eml").replace(b"Action: delayed", b"Action: failed").replace(
        b"Status: 4.4.1", b"Status: 4.4.7")
    (gave_up,) = parse_dsn(raw)
    assert gave_up.permanent and reason_of(gave_up) == "old"


def test_policy_rejection_is_not_a_bounce_reason():
    raw = sample("postfix_user_unknown.eml").replace(b"Status: 5.1.1", b"Status: 5.7.1")
    (blocked,) = parse_dsn(raw)
    assert blocked.permanent and reason_of(blocked) == "generic"


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from(["postfix_user_unknown.eml", "exchange_not_found.eml",
                                                  "gmail_no_such_user.eml"]), st.integers(0, 4000))
def test_hostile_and_truncated_bounces_never_raise(noise, name, cut):
    raw = sample(name)
    for candidate in (noise, raw[:cut] + noise, raw.replace(b"Final-Recipient: rfc822;", b"Final-Recipient: " + noise)):
        for found in parse_dsn(candidate):
            assert "\n" not in found.recipient and "\r" not in found.diagnostic
            assert found.status[0] in "245"
