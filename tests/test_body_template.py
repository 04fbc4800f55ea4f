"""Per-batch body templates (postgate.body): the fast path writes what the slow path writes.

The slow path substitutes the recipient's values with the generic :class:`Substituter`, scans the
whole body for its transfer encoding and converts its line ends; :class:`BodyTemplate` decides
on the template once and checks only the values. For random templates and values (CR, LF, lone
CR, other line breaks, 8-bit and non-BMP text, ``%`` and built-in names that could combine with a
value, lines around the 990-character limit) both give the same encoding and the same 7-bit
bytes; a base64 payload decodes to the same bytes, in lines of whole 4-character groups of at
most 76 characters (the fast path ends a line early rather than cut a value that keeps its
length, see ``_RunLines``), and is byte for byte the slow path's wherever no line ends early.
"""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import postgate.body as body_module
from postgate.body import MAX_7BIT_LINE, BodyTemplate, encode_body, transfer_encoding
from postgate.substitution import Substituter

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
KEYS = ["name", "url", "x", "a_b"]
BUILTINS = ["recipient", "recipient_email", "recipient_fname", "unsubscribe_url"]

#: Literal text: ordinary words, line breaks of every kind, 8-bit, braces (format patterns), and
#: fragments from which a built-in variable could be completed across a value.
fragments = st.sampled_from([
    "Hi ", "word", " ", "\n", "\r\n", "\r", "\x0b", "\x1c", "\u2028", "\x85", "é", "\U0001f600", "{", "}",
    "{0}", "%", "%recipient", "%recipient_", "email%", "%recipient.", "%recipient.nope%", "_", "fname",
    "a" * 400, "b" * 989, "=?utf-8?q?x?=", "\t",
])
variable = st.sampled_from([f"%recipient.{key}%" for key in KEYS] + [f"%{name}%" for name in BUILTINS])
template = st.lists(st.one_of(fragments, variable), max_size=12).map("".join)
value_text = st.lists(st.sampled_from([
    "Member 1", "", "é", "\n", "\r", "\r\n", "%", "%recipient_email%", "email", "_", "x" * 500, "y" * 991,
    "\x00", "\u2029", "{}", "https://blog.example.com/u/?uuid=1&k=2",
]), max_size=4).map("".join)
values = st.dictionaries(st.sampled_from(KEYS), st.one_of(value_text, st.integers(), st.none(), st.booleans()),
                         max_size=len(KEYS))
entries = st.sampled_from(["m@example.com", "Ann Lee <ann@example.com>", "Zoë <z@example.com>",
                           "a_b <recipient@example.com>"])


def same_payload(found: tuple[str, bytes] | None, expected: tuple[str, bytes] | None) -> bool:
    """Whether the fast path's ``(encoding, payload)`` is the slow path's: the same, or for base64
    the same bytes decoded, in lines of whole 4-character groups of at most 76, each ended by CRLF."""
    if found is None or expected is None or found == expected:
        return found == expected
    (encoding, payload), (expected_encoding, expected_payload) = found, expected
    if encoding != "base64" or expected_encoding != "base64" or not payload.endswith(b"\r\n"):
        return False
    lines = payload[:-2].split(b"\r\n")
    if not all(0 < len(line) <= 76 and len(line) % 4 == 0 for line in lines):
        return False
    decoded = base64.b64decode(b"".join(lines), validate=True)
    return decoded == base64.b64decode(expected_payload.replace(b"\r\n", b""), validate=True)


def slow_path(text: str | None, substitute: Substituter) -> tuple[str, bytes] | None:
    """What rendering did per recipient before templates: substitute, scan, convert."""
    content = substitute(text)
    if content is None:
        return None
    cte = transfer_encoding(content)
    return cte, encode_body(content, cte)


@SETTINGS
@given(text=template, variables=values, entry=entries)
@example(text="%recipient_%recipient.x%%", variables={"x": "email"}, entry="m@example.com")
@example(text="a\r%recipient.x%\nb", variables={"x": ""}, entry="m@example.com")
@example(text="%recipient.x%" + "b" * 985, variables={"x": "12345"}, entry="m@example.com")
@example(text="%recipient.x%" + "b" * 985, variables={"x": "123456"}, entry="m@example.com")
@example(text="end %recipient.x%", variables={"x": "\r"}, entry="m@example.com")
def test_template_renders_what_the_slow_path_renders(text, variables, entry):
    substitute = Substituter(entry, variables)
    assert same_payload(BodyTemplate(text)(substitute), slow_path(text, substitute))


@SETTINGS
@given(text=template, variables=values, entry=entries, cached=st.sampled_from([1, 2, 56, 57, 58, 200]),
       budget=st.sampled_from([0, 300, 10**9]))
@example(text="é" + "b" * 989 + "%recipient.x%" + "b" * 989, variables={"x": "12"}, entry="m@example.com", cached=57,
         budget=10**9)
def test_base64_lines_cached_per_literal_are_what_the_slow_path_encodes(text, variables, entry, cached, budget,
                                                                         monkeypatch):
    """Long literals' base64 lines are encoded once per offset (the threshold lowered here so
    that most literals are, and the cache's room varied): the payload is the slow path's."""
    monkeypatch.setattr(body_module, "_CACHED_LITERAL", cached)
    monkeypatch.setattr(body_module, "_CACHE_BYTES", budget)
    body = BodyTemplate(text)
    for name in ("Ann", "Zoë Bell", entry):  # several offsets into the same cache
        substitute = Substituter(entry, {**variables, "name": name})
        assert same_payload(body(substitute), slow_path(text, substitute))


def test_a_non_ascii_newsletter_is_encoded_from_cached_lines(monkeypatch):
    """A newsletter with typographic quotes goes base64: the long literal's lines come from the
    cache (at most one entry per offset in a line), only the lines around the values are new."""
    html = "<p>Hi %recipient.name%</p>\n" + "<p>This week’s issue, with “quotes”.</p>\n" * 400 + "%recipient.url%"
    body = BodyTemplate(html)
    slow = []
    for index in range(30):
        substitute = Substituter(f"m{index}@example.com", {"name": "M" * index, "url": f"https://x/{index}"})
        assert same_payload(body(substitute), slow_path(html, substitute))
    # Runs of literals and values that kept their length: the whole body for the first
    # recipient, then the literal and the URL (its length changes at 10), then the literal alone;
    # the cache is emptied whenever a value changes length.
    assert {(first, last) for first, last, _ in body.layout.base64_lines} == {(1, 1)}
    assert len(body.layout.base64_lines) == len({-(len("<p>Hi ") + n) % 57 for n in range(10, 30)})
    monkeypatch.setattr(BodyTemplate, "slow", lambda self, substitute: slow.append(1))
    assert body(Substituter("m@example.com", {"name": "x", "url": "y"}))[0] == "base64" and slow == []


def test_a_ghost_body_takes_the_fast_path_for_every_recipient(monkeypatch):
    """Newsletter bodies (ASCII template, URL and name values) never need the slow path."""
    html = "<p>Hi %recipient.name%</p>\n" * 50 + '<a href="%recipient.url%">unsubscribe</a> %recipient_email%'
    body = BodyTemplate(html)
    slow = []
    monkeypatch.setattr(BodyTemplate, "slow", lambda self, substitute: slow.append(1))
    for index in range(20):
        substitute = Substituter(f"m{index}@example.com", {"name": f"Member {index}",
                                                           "url": f"https://blog.example.com/u/?uuid={index}"})
        cte, payload = body(substitute)
        assert cte == "7bit" and payload.endswith(b"</a> m%d@example.com\r\n" % index)
    assert slow == []


def test_values_that_change_the_decision_are_checked_per_recipient():
    body = BodyTemplate("x" * (MAX_7BIT_LINE - 3) + "%recipient.v%\nnext")
    assert body(Substituter("m@example.com", {"v": "abc"}))[0] == "7bit"
    assert body(Substituter("m@example.com", {"v": "abcd"}))[0] == "base64"  # 991 characters
    assert body(Substituter("m@example.com", {"v": "é"}))[0] == "base64"
    assert body(Substituter("m@example.com", {"v": "a\nb"}))[0] == "7bit"  # slow path: lines are shorter


def test_a_template_a_value_could_complete_a_variable_in_is_rendered_slowly():
    assert not BodyTemplate("%recipient_%recipient.x%%").fast
    assert not BodyTemplate("a\r%recipient.x%\nb").fast
    assert BodyTemplate("Hi %recipient.x%, %recipient_email%").fast
    assert body_module.BodyTemplate(None)(Substituter("m@example.com", {})) is None


#: A tracked body's pieces: text (long runs among them), a per-recipient token followed by a fixed
#: part written in once, and other values.
tracked_fragments = st.sampled_from([
    "<p>Hi ", "</a>\n", "\r\n", "é", "“quoted”", "\U0001f600", "x" * 56, "y" * 57, "z" * 400, "w" * 1000,
    '<a href="https://t.example.com/t/c/%recipient.tok%AAAB">', "/t/o/%recipient.tok%____.gif",
    "%recipient.tok%", "%recipient.name%", "%recipient.url%", "%recipient_email%",
])
#: Values without CR or LF: any Unicode (8-bit, astral, other line breaks) and ASCII.
line_values = st.text(st.characters(blacklist_characters="\r\n%", blacklist_categories=["Cs"]), max_size=30)
tokens = st.integers(min_value=0, max_value=60).flatmap(
    lambda length: st.lists(st.text(st.sampled_from("AZaz09-_.é\u2028\U0001f600"), min_size=length,
                                    max_size=length), min_size=1, max_size=6))


@SETTINGS
@given(parts=st.lists(tracked_fragments, min_size=1, max_size=40), heads=tokens,
       names=st.lists(line_values, min_size=6, max_size=6), urls=st.lists(line_values, min_size=6, max_size=6),
       cached=st.sampled_from([1, 57, 200, 4096]), budget=st.sampled_from([0, 2000, 10**9]))
@example(parts=["w" * 1000, "%recipient.tok%", "w" * 1000], heads=["a" * 43, "b" * 43],
         names=[""] * 6, urls=[""] * 6, cached=1, budget=10**9)
def test_values_that_keep_their_length_patch_cached_base64_lines_exactly(parts, heads, names, urls, cached, budget,
                                                                         monkeypatch):
    """Recipients in turn through one template, a token of one length (in characters; in UTF-8
    it may still change) in many places, names and URLs of any length: every payload, 7bit or
    base64, is the slow path's (decoded, for base64), while runs between the values that change
    length are patched."""
    monkeypatch.setattr(body_module, "_CACHED_LITERAL", cached)
    monkeypatch.setattr(body_module, "_CACHE_BYTES", budget)
    text = "".join(parts)
    body = BodyTemplate(text)
    for index, head in enumerate(heads * 2):
        variables = {"tok": head, "name": names[index % 6], "url": urls[index % 6]}
        substitute = Substituter(f"m{index}@example.com", variables)
        assert same_payload(body(substitute), slow_path(text, substitute))


def test_a_tracked_newsletter_reencodes_only_the_groups_around_its_tokens():
    """21 links and a pixel around one token per recipient: after the first recipients, the run
    between the name and the unsubscribe link comes from one cached entry per offset."""
    link = ("<p>Text of a paragraph, long enough.</p>" * 12
            + '<a href="https://t.example.com/t/c/%recipient.tok%AAA{}">x</a>')
    html = ("“Hi” %recipient.name%" + "".join(link.format(i) for i in range(21)) + "<p>Footer</p>" * 9
            + "%recipient.url%")
    body = BodyTemplate(html)
    for index in range(40):
        substitute = Substituter("m@example.com", {"tok": f"{index:043d}", "name": "M" * (index % 7),
                                                   "url": f"https://x/{'u' * (index % 3)}"})
        assert same_payload(body(substitute), slow_path(html, substitute))
    assert body.layout.runs[1][:2] == (1, 22)  # the literals between the name and the URL, tokens inside
    run_lines = [found for key, found in body.layout.base64_lines.items() if key[:2] == (1, 22)]
    assert run_lines and all(found.ends is not None and len(found.stretches) == 22 for found in run_lines)
    # no line end cuts a token: each of the 21 is one place, filled with one of few objects
    lines: list[bytes] = []
    substitute = Substituter("m@example.com", {"tok": f"{7:043d}", "name": "M", "url": "https://x/"})
    run_lines[0].fill(lines, [value.encode() for value in body._values(substitute) or []])
    placed = lines[1::2]
    assert len(placed) == 21 and len({id(piece) for piece in placed}) <= 3
    assert all(len(line) <= 76 for line in b"".join(lines).split(b"\r\n"))
