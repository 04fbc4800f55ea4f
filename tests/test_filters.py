"""The Mailgun filter-expression parser (contract §3.2), without HTTP."""

from __future__ import annotations

import pytest

from postgate.domain import And, Not, Or, Term
from postgate.errors import BadRequest
from postgate.mailgun.filters import all_of, parse_filter


def test_single_term():
    assert parse_filter("event", "delivered") == Term("event", "delivered")


def test_ghost_default_event_filter():
    expr = "delivered OR opened OR failed OR unsubscribed OR complained"
    assert parse_filter("event", expr) == Or(tuple(
        Term("event", name) for name in ("delivered", "opened", "failed", "unsubscribed", "complained")
    ))


def test_ghost_tag_filter_with_configured_tag():
    assert parse_filter("tags", "bulk-email AND my-site") == And((Term("tags", "bulk-email"), Term("tags", "my-site")))


def test_whitespace_is_and():
    assert parse_filter("tags", "a  b\tc") == And((Term("tags", "a"), Term("tags", "b"), Term("tags", "c")))


def test_and_binds_tighter_than_or():
    assert parse_filter("tags", "a b OR c") == Or((And((Term("tags", "a"), Term("tags", "b"))), Term("tags", "c")))
    assert parse_filter("tags", "a OR b AND c") == Or((Term("tags", "a"), And((Term("tags", "b"), Term("tags", "c")))))


def test_not_binds_tightest():
    assert parse_filter("tags", "NOT a b") == And((Not(Term("tags", "a")), Term("tags", "b")))
    assert parse_filter("tags", "NOT NOT a") == Not(Not(Term("tags", "a")))


def test_parentheses_group():
    expr = "(Hello AND NOT Rachel) OR (Farewell AND Monica)"
    assert parse_filter("tags", expr) == Or((
        And((Term("tags", "Hello"), Not(Term("tags", "Rachel")))),
        And((Term("tags", "Farewell"), Term("tags", "Monica"))),
    ))
    assert parse_filter("tags", "NOT (a OR b)") == Not(Or((Term("tags", "a"), Term("tags", "b"))))
    assert parse_filter("tags", "((a))") == Term("tags", "a")


def test_quoted_phrase_is_one_term():
    assert parse_filter("tags", '"my tag" OR other') == Or((Term("tags", "my tag"), Term("tags", "other")))
    assert parse_filter("tags", '"OR"') == Term("tags", "OR")


def test_lowercase_operator_words_are_terms():
    assert parse_filter("tags", "a or b") == And((Term("tags", "a"), Term("tags", "or"), Term("tags", "b")))


def test_event_severity_reason_are_lowercased():
    assert parse_filter("event", "Delivered") == Term("event", "delivered")
    assert parse_filter("severity", "PERMANENT") == Term("severity", "permanent")
    assert parse_filter("reason", "Suppress-Bounce") == Term("reason", "suppress-bounce")


def test_tags_and_recipients_keep_their_case():
    assert parse_filter("tags", "Bulk-Email") == Term("tags", "Bulk-Email")
    assert parse_filter("recipient", "Alice@Example.com") == Term("recipient", "Alice@Example.com")


def test_message_id_angle_brackets_are_stripped():
    assert parse_filter("message-id", "<abc.def@mg.example.com>") == Term("message-id", "abc.def@mg.example.com")
    assert parse_filter("message-id", "abc@mg") == Term("message-id", "abc@mg")


def test_other_supported_fields():
    assert parse_filter("email-id", "6740a1b2") == Term("email-id", "6740a1b2")
    assert parse_filter("recipient", "a@x.com OR b@y.com") == Or((Term("recipient", "a@x.com"), Term("recipient", "b@y.com")))


@pytest.mark.parametrize("expr", [
    "", "   ", "(a", "a)", "()", "a OR", "OR a", "AND", "a AND AND b", "NOT", '"unterminated', "a (b OR) c",
])
def test_invalid_expressions_are_400(expr):
    with pytest.raises(BadRequest) as info:
        parse_filter("tags", expr)
    assert info.value.status == 400
    assert "tags" in info.value.message


def test_ranges_are_refused_on_non_numeric_fields():
    with pytest.raises(BadRequest, match="range"):
        parse_filter("tags", ">10000")
    with pytest.raises(BadRequest, match="range"):
        parse_filter("event", ">10000 <20000")


@pytest.mark.parametrize("field", ["size", "subject", "from", "to", "list", "attachment", "recipients"])
def test_unsupported_mailgun_fields_are_400(field):
    with pytest.raises(BadRequest, match="not supported"):
        parse_filter(field, "x")


def test_unknown_field_is_400():
    with pytest.raises(BadRequest):
        parse_filter("colour", "blue")


def test_too_long_expression_is_400():
    with pytest.raises(BadRequest, match="longer"):
        parse_filter("tags", "a " * 600)


def test_all_of_flattens():
    a, b, c = Term("tags", "a"), Term("tags", "b"), Term("event", "c")
    assert all_of([]) is None
    assert all_of([a]) == a
    assert all_of([And((a, b)), c]) == And((a, b, c))
