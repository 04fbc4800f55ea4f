"""The quick form reader gives Quart's fields exactly, or leaves the body to Quart (hostile input)."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart.formparser import MultiPartParser
from werkzeug.exceptions import RequestEntityTooLarge

from bench.ghost_form import ghost_batch, member_addresses
from postgate.mailgun.multipart import parse_plain_form

BOUNDARY = "--------------------------123456789012345678901234"
MAX_PARTS = 50
MAX_FIELD = 2000


class Body:
    """Quart's request body, whole: the reader is compared with Quart reading the body in one
    piece, as Quart does after ``get_data`` (werkzeug's result can depend on where the network
    cut the body: a cut inside the CRLF before a delimiter can leave a CR on the value)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __aiter__(self):
        async def chunks():
            yield self.data
        return chunks()


def quart_fields(body: bytes, boundary: str, max_parts: int = MAX_PARTS,
                 max_field: int = MAX_FIELD) -> list[tuple[object, object]] | str:
    """Quart's fields and files (in order), or what it raised."""
    parser = MultiPartParser(max_form_memory_size=max_field, max_form_parts=max_parts)
    try:
        fields, files = asyncio.run(parser.parse(Body(body), boundary.encode("ascii", "replace"), len(body)))
    except (ValueError, RequestEntityTooLarge) as exc:
        return type(exc).__name__
    return [*fields.items(multi=True), *(("file", name) for name, _ in files.items(multi=True))]


def framed(parts: list[tuple[bytes, bytes]], boundary: str, *, break_: bytes = b"\r\n", tail: bytes = b"\r\n",
           preamble: bytes = b"") -> bytes:
    mark = f"--{boundary}".encode()
    out = [preamble]
    for headers, value in parts:
        out.append(mark + break_ + headers + break_ + break_ + value + break_)
    out.append(mark + b"--" + tail)
    return b"".join(out)


NAMES = st.sampled_from([b"to", b"from", b"html", b"v:email-id", b"h:X-A", b"recipient-variables", "ü".encode()])
VALUES = st.one_of(
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
    st.sampled_from([b"", b"\r\n", b"\r", b"\n", f"--{BOUNDARY}".encode(), f"\r\n--{BOUNDARY}".encode(),
                     b"-" * 30, b"x" * (MAX_FIELD + 1)]),
)


@st.composite
def part_headers(draw) -> bytes:
    name = draw(NAMES)
    disposition = draw(st.sampled_from([b'Content-Disposition: form-data; name="%s"'] * 12 + [
        b"Content-Disposition: form-data; name=%s",
        b'content-disposition:form-data;name="%s"', b'Content-Disposition: form-data; name="%s"; filename="a.txt"',
        b"Content-Disposition: form-data", b'Content-Disposition: form-data; name*=UTF-8\'\'%s',
        b'X-Other: 1\r\nContent-Disposition: form-data; name="%s"', b' Content-Disposition: form-data; name="%s"',
        b'Content-Disposition: form-data;\r\n name="%s"', b'Content-Disposition: form-data; name="%s"\nX: y',
    ]))
    headers = disposition.replace(b"%s", name) if b"%s" in disposition else disposition
    content_type = draw(st.sampled_from([b""] * 6 + [b"\r\nContent-Type: text/plain; charset=iso-8859-1",
                                         b"\r\nContent-Type: text/plain; charset=utf-16", b"\r\nContent-Type: x"]))
    return headers + content_type


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.tuples(part_headers(), VALUES), max_size=6),
       break_=st.sampled_from([b"\r\n"] * 6 + [b"\n", b"\r"]), tail=st.sampled_from([b"\r\n"] * 4 + [b"", b"  \r\n", b"x"]),
       preamble=st.sampled_from([b""] * 6 + [b"preamble\r\n", b"\r\n"]),
       boundary=st.sampled_from([BOUNDARY] * 6 + ["b", "a b", "é", "-"]),
       edit=st.one_of(st.none(), st.none(), st.none(), st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=3))))
def test_the_quick_reader_agrees_with_quart(parts, break_, tail, preamble, boundary, edit) -> None:
    body = framed(parts, boundary, break_=break_, tail=tail, preamble=preamble)
    if edit is not None:
        at = edit[0] % (len(body) + 1)
        body = body[:at] + edit[1] + body[at:]
    quick = parse_plain_form(body, boundary, max_parts=MAX_PARTS, max_field_bytes=MAX_FIELD)
    if quick is not None:
        assert list(quick.items(multi=True)) == quart_fields(body, boundary)


def test_a_ghost_batch_is_read_quickly_and_exactly() -> None:
    body, content_type = ghost_batch("mg.example.com", member_addresses(300))
    boundary = content_type.split("boundary=")[1]
    quick = parse_plain_form(body, boundary, max_parts=2000, max_field_bytes=None)
    assert quick is not None and len(quick.getlist("to")) == 300
    assert list(quick.items(multi=True)) == quart_fields(body, boundary, 2000, 10**7)


def test_what_is_left_to_quart() -> None:
    plain = [(b'Content-Disposition: form-data; name="to"', b"a@example.com")]
    body = framed(plain, BOUNDARY)
    assert parse_plain_form(body, BOUNDARY, max_parts=1, max_field_bytes=100) is not None
    assert parse_plain_form(body, BOUNDARY, max_parts=0, max_field_bytes=100) is None  # Quart answers 413
    assert parse_plain_form(body, BOUNDARY, max_parts=1, max_field_bytes=5) is None  # the same
    assert parse_plain_form(body, None, max_parts=1, max_field_bytes=100) is None
    assert parse_plain_form(body, "other", max_parts=1, max_field_bytes=100) is None
    filed = [(b'Content-Disposition: form-data; name="attachment"; filename="a.pdf"', b"%PDF")]
    assert parse_plain_form(framed(filed, BOUNDARY), BOUNDARY, max_parts=5, max_field_bytes=100) is None
    assert parse_plain_form(framed(plain, BOUNDARY, preamble=b"x\r\n"), BOUNDARY, max_parts=5,
                            max_field_bytes=100) is None


PLAIN_HEADERS = st.tuples(
    st.sampled_from([b"to", b"from", b"html", b"v:email-id", b"h:X-A", b"o:tag", b""]),
    st.sampled_from([b'Content-Disposition: form-data; name="%s"', b"Content-Disposition: form-data; name=%s",
                     b'content-disposition:form-data;name="%s"', b'X-Other: 1\r\nContent-Disposition: form-data; name="%s"',
                     b'Content-Disposition: form-data; name="%s"\r\nContent-Type: text/plain; charset=iso-8859-1',
                     b'Content-Disposition: form-data; name="%s"\r\nContent-Type: text/plain; charset=utf-16']),
).map(lambda pair: pair[1].replace(b"%s", pair[0]))


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.tuples(PLAIN_HEADERS, st.binary(max_size=60) | st.text(max_size=60).map(str.encode)),
                      min_size=1, max_size=12),
       tail=st.sampled_from([b"\r\n", b""]))
def test_plain_bodies_are_read_quickly_and_exactly(parts, tail) -> None:
    body = framed(parts, BOUNDARY, tail=tail)
    if f"--{BOUNDARY}".encode() in b"".join(value for _, value in parts):
        return
    quick = parse_plain_form(body, BOUNDARY, max_parts=MAX_PARTS, max_field_bytes=MAX_FIELD)
    assert quick is not None
    assert list(quick.items(multi=True)) == quart_fields(body, BOUNDARY)
