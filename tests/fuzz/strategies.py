"""Hypothesis strategies for hostile Mailgun input: text, JSON, forms, filters, page tokens."""

from __future__ import annotations

import base64
import json

from hypothesis import strategies as st

#: Characters attackers reach for: controls, line breaks of every kind, NUL, quotes, non-ASCII.
NASTY_CHARS = ["\r", "\n", "\x00", "\x0b", "\x1f", "\x7f", "\x85", "\u2028", "\u2029", "\ufeff",
               '"', "'", "\\", "%", "(", ")", ",", ":", ";", "<", ">", "@", "é", "ß", "\U0001f600"]

nasty_text = st.text(
    alphabet=st.one_of(st.sampled_from(NASTY_CHARS), st.characters(codec="utf-8")), max_size=40
)
huge_numbers = st.sampled_from([
    "1e308", "-1e308", "1e999", "nan", "NaN", "inf", "-inf", "Infinity", "-0", "0", "-1",
    "9" * 30, "9" * 400, "18446744073709551616", "9223372036854775808", "1.5", "0x10", "١٢٣",
    "253402300800", "99999999999", "",
])
any_value = st.one_of(nasty_text, huge_numbers)


def deep_json(depth: int, opener: str = "[") -> str:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "[":
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + closer * depth


deep_json_text = st.builds(deep_json, st.integers(min_value=33, max_value=5000), st.sampled_from("[{"))

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
              st.floats(allow_nan=False, allow_infinity=False), nasty_text),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(nasty_text, children, max_size=4)),
    max_leaves=12,
)

json_text = st.one_of(
    json_values.map(json.dumps),
    deep_json_text,
    st.sampled_from(['{"a": NaN}', '{"a": 1e999}', '["\\ud800"]', '{"a": "\\udfff"}', "{", "[1,]", '"x"']),
    nasty_text,
)

# -- filters ----------------------------------------------------------------------------------

filter_terms = st.one_of(
    st.sampled_from(["delivered", "failed", "accepted", "OR", "AND", "NOT", "(", ")", '"', '"a b"',
                     ">10", "<=5", "*", "alice@example.com"]),
    st.text(alphabet="abc()\" NOTAR<>=-", min_size=1, max_size=8),
)
filter_expressions = st.one_of(
    st.lists(filter_terms, max_size=40).map(" ".join),
    st.integers(min_value=1, max_value=600).map(lambda n: "(" * n + "a" + ")" * n),
    st.integers(min_value=1, max_value=600).map(lambda n: "NOT " * n + "a"),
    st.integers(min_value=1, max_value=600).map(lambda n: " OR ".join(["a"] * n)),
    nasty_text,
)

# -- page tokens ------------------------------------------------------------------------------


def encode_token(data: object) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


big_ints = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**30]))
token_lists = st.builds(
    lambda begin, end, filters, limit, cursor, asc, rev, version: [
        version, "mg.example.com", asc, begin, end, filters, limit, rev, cursor],
    st.one_of(st.none(), big_ints),
    st.one_of(st.none(), big_ints),
    st.one_of(st.just([]), st.lists(st.tuples(st.sampled_from(["event", "tags", "recipient", "size"]),
                                               filter_expressions).map(list), max_size=20)),
    st.one_of(big_ints, st.just(10)),
    st.one_of(st.none(), st.lists(big_ints, min_size=2, max_size=2), st.just([1]), st.just("x")),
    st.sampled_from([0, 1, 2, True]),
    st.sampled_from([0, 1, -1]),
    st.sampled_from([1, 2, 0]),
)
page_tokens = st.one_of(
    token_lists.map(encode_token),
    json_text.map(lambda text: base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).rstrip(b"=").decode()),
    st.text(alphabet="ABCabc123-_=+/%.", max_size=60),
    st.just("A" * 5000),
)

# -- the Mailgun send form --------------------------------------------------------------------

FORM_KEYS = ["from", "to", "cc", "bcc", "subject", "text", "html", "o:tag", "o:deliverytime",
             "o:testmode", "o:tracking", "h:X-Mailgun-Variables", "h:Reply-To", "h:X-Bad\nName",
             "v:var", "recipient-variables", "template", "t:variables", "amp-html"]

valid_base = {"from": "Sender <sender@mg.example.com>", "to": "alice@example.com", "subject": "Hi", "text": "Hello"}

mailgun_forms = st.builds(
    lambda base, extra: list(base.items()) + extra,
    st.fixed_dictionaries({}, optional={k: any_value for k in valid_base}).map(lambda d: {**valid_base, **d}),
    st.lists(st.tuples(st.sampled_from(FORM_KEYS), st.one_of(any_value, json_text)), max_size=8),
)
