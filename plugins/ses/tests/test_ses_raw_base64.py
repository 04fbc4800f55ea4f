"""``Content.Raw.Data`` from a rendered message's pieces: the long pieces' base64 is kept per
offset, and the result is ``base64.b64encode(raw)`` whatever the pieces, the offsets, the room
left in the cache, or pieces that no longer join to ``raw`` (a hook changed it)."""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import postgate_ses.raw_base64 as raw_base64
from postgate_ses.raw_base64 import Base64Parts

#: Long pieces shared by every message, as a batch's literals are (the same objects).
SHARED = [bytes(range(256)) * 9, b"x" * 2048, b"y" * 2050, "é’☕".encode() * 700]
piece = st.one_of(st.sampled_from(SHARED), st.binary(max_size=70), st.integers(0, 7).map(lambda n: b"z" * (2045 + n)))
messages = st.lists(st.lists(piece, max_size=10), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(messages=messages, limit=st.sampled_from([0, 5000, 10**9]), long_piece=st.sampled_from([1, 3, 4, 2048]),
       stale=st.booleans())
def test_the_data_is_the_base64_of_raw(messages, limit, long_piece, stale, monkeypatch):
    monkeypatch.setattr(raw_base64, "LONG_PIECE", long_piece)
    encoder = Base64Parts(limit)
    largest = 0
    for parts in messages:
        largest = max([largest, *map(len, parts)])
        raw = b"".join(parts)
        if stale and raw:  # a prepare_message hook changed raw after rendering
            raw = raw[:-1] + bytes([raw[-1] ^ 1])
        assert encoder.encode(raw, tuple(parts)) == base64.b64encode(raw)
        assert encoder.size <= max(limit, 4 * largest)  # one piece's encoding may exceed a tiny limit


def test_a_long_piece_is_encoded_once_per_offset():
    encoder = Base64Parts()
    literal = SHARED[3]
    for name in (b"A", b"Bo", b"Cid", b"Dana", b"A"):
        parts = (b"Hi ", name, literal, name, b"!")
        assert encoder.encode(b"".join(parts), parts) == base64.b64encode(b"".join(parts))
    offsets = encoder._kept[id(literal)][1]  # noqa: SLF001
    assert sorted(offsets) == [0, 1, 2]  # three ways to start within a group of three
