"""``load_json``'s orjson fast path answers every body as the standard library's checked parse does:
the same value (an integer beyond 64 bits read as a float), or a refusal (hostile text, deep
nesting, lone surrogates, ``NaN``)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postgate_ses.safejson import MAX_DEPTH, UnsafeJson, _load_checked, load_json

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=12))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=25)
#: Text made of JSON's own characters, escapes and surrogate halves: mostly broken JSON.
TOKENS = st.text(alphabet=list('[]{}",:0123456789.eE+- \\utnrfalsDd8cF') + ["\ud800", "é", "\x00"], max_size=50)


def nested(depth: int, bracket: str) -> str:
    opening, closing = ("[", "]") if bracket == "[" else ('{"a":', "}")
    return opening * depth + "1" + closing * depth


BODIES = st.one_of(
    VALUES.map(json.dumps),
    VALUES.map(lambda value: json.dumps(value, ensure_ascii=False)),
    VALUES.map(lambda value: json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    TOKENS,
    TOKENS.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
    st.builds(nested, st.integers(MAX_DEPTH - 3, MAX_DEPTH + 3), st.sampled_from("[{")),
    st.integers(min_value=10**18, max_value=10**40).map(lambda n: json.dumps({"n": n, "m": [-n]})),
)


def as_orjson_reads(value):
    """``value`` with its integers beyond 64 bits as floats, as orjson reads them."""
    return json.loads(json.dumps(value), parse_int=lambda text: int(text) if -2**63 <= int(text) < 2**64
                      else float(text))


def answer(parse, data):
    try:
        return "value", parse(data)
    except UnsafeJson:
        return "refused", None


@settings(max_examples=600, deadline=None)
@given(BODIES)
def test_the_fast_path_answers_as_the_standard_library_does(data):
    fast = answer(load_json, data)
    reference = answer(lambda d: _load_checked(d, MAX_DEPTH), data)
    assert fast[0] == reference[0]
    assert fast[1] == as_orjson_reads(reference[1])
    if fast[0] == "value":  # the same types too (an int stays an int, unless it needs over 64 bits)
        assert json.dumps(fast[1], sort_keys=True) == json.dumps(as_orjson_reads(reference[1]), sort_keys=True)


@pytest.mark.parametrize(("data", "reason"), [
    (nested(MAX_DEPTH + 1, "["), "deeper"),
    ("[" * 50_000 + "]" * 50_000, "deeper"),
    (b"\xff{}", "not UTF-8"),
    ('{"a": NaN}', "NaN is not JSON"),
    ('{"a": "\\ud800"}', "surrogate"),
    ("{", "not JSON"),
])
def test_refusals_keep_their_reasons(data, reason):
    with pytest.raises(UnsafeJson, match=reason):
        load_json(data)


def test_depth_at_the_limit_is_taken():
    assert load_json(nested(MAX_DEPTH - 1, "{")) is not None
    assert load_json(json.dumps({"n": 2**64 - 1, "m": -2**63})) == {"n": 2**64 - 1, "m": -2**63}
