"""Generated tests of the header rule (``postgate.headers``): whatever a client sends in any field,
the request is refused with a 400 and nothing is stored, or every recipient's message parses with
the standard library into exactly the headers intended (none added, none lost, values round-trip
modulo encoding) and a body that is not split; a value that only becomes unsafe after
per-recipient substitution fails that recipient alone."""

from __future__ import annotations

import io
import json
import re
import time
from email.headerregistry import AddressHeader, HeaderRegistry
from email.parser import BytesParser
from email.policy import default
from email.utils import formatdate

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import FileStorage, Headers, MultiDict

from postgate.addresses import valid_address
from postgate.batching import build_batch
from postgate.codec import decode_message, encode_message
from postgate.domain import Batch, Message, Recipient, RecipientStatus
from postgate.errors import BadRequest
from postgate.headers import FORBIDDEN, UnsafeHeaderValue, clean_tag
from postgate.mailgun.message_form import MAX_SCHEDULE_DAYS, parse_delivery_time, parse_message, parse_mime_message
from postgate.render import OWN_HEADERS, Renderer
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth

from postgate.web import create_app

DOMAIN = TEST_DOMAIN
#: Every character the rule is about, and pieces an attacker would try.
BAD_CHARS = ["\r", "\n", "\r\n", "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1c", "\x1d", "\x1e",
             "\x1f", "\x7f", "\x85", "\u2028", "\u2029"]
PIECES = ["\r\nBcc: evil@example.com", "\n\nbody?", "\r\n ", "\n\t", " ", "\t", ":", ";", ",", "<", ">", '"',
          "@", "=?utf-8?q?a=0D=0A?=", "%recipient.x%", "%recipient.mid%", "é", "日本", "\U0001f600", "--"]
SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
STRUCTURE = {"mime-version", "content-type", "content-transfer-encoding"}
REGISTRY = HeaderRegistry()


def hostile_text(max_size: int = 12) -> st.SearchStrategy[str]:
    piece = st.one_of(st.sampled_from(BAD_CHARS), st.sampled_from(PIECES),
                      st.text(st.characters(codec="utf-8"), max_size=4),
                      st.text("abcXYZ019 -._", min_size=1, max_size=6))
    return st.lists(piece, max_size=max_size).map("".join)


def sometimes_clean(max_size: int = 12) -> st.SearchStrategy[str]:
    """Clean text five times in six (so accepted sends are explored too), hostile otherwise."""
    clean = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20)
    hostile = hostile_text(max_size)
    return st.integers(0, 5).flatmap(lambda n: hostile if n == 0 else clean)


NAME_WORDS = st.sampled_from(["J.", "Smith", "Dr.", "O'Neil", "Zoë", "(x)"]).map(lambda w: w + " ")
HEADER_NAMES = st.sampled_from(["X-Note", "Reply-To", "Sender", "List-Unsubscribe", "X-Campaign", "Message-Id",
                                "Keywords", "Comments", "In-Reply-To"])


@st.composite
def send_forms(draw):
    """A send call where every field may hold anything."""
    fields = [("from", draw(st.one_of(st.just("Blog <noreply@mg.example.com>"),
                                      sometimes_clean().map(lambda n: f"{n} <noreply@mg.example.com>"),
                                      sometimes_clean().map(lambda n: f'"{n}" <noreply@mg.example.com>'))))]
    recipients = ["alice@example.com", "bob@example.com"]
    for address in recipients:
        name = draw(st.one_of(st.none(), sometimes_clean(6)))
        if name is not None and draw(st.booleans()):  # unquoted, words and periods as people write them
            fields.append(("to", "".join(draw(st.lists(NAME_WORDS, min_size=1, max_size=3))) + f"<{address}>"))
            continue
        fields.append(("to", address if name is None else f'"{name}" <{address}>'))
    if draw(st.booleans()):
        fields.append(("cc", draw(st.one_of(st.just("c@example.com"),
                                            sometimes_clean(6).map(lambda n: f"{n} <c@example.com>")))))
    if draw(st.booleans()):
        fields.append(("subject", draw(sometimes_clean()) + draw(st.sampled_from(["", " %recipient.x%"]))))
    fields.append(("text", draw(sometimes_clean(30))))
    if draw(st.booleans()):
        fields.append(("html", draw(sometimes_clean(30))))
    for _ in range(draw(st.integers(0, 3))):
        fields.append((f"h:{draw(HEADER_NAMES)}", draw(sometimes_clean())))
    if draw(st.booleans()):
        fields.append(("h:Message-Id", "<%recipient.mid%>"))
    for _ in range(draw(st.integers(0, 3))):
        fields.append(("o:tag", draw(hostile_text(6))))
    for index in range(draw(st.integers(0, 2))):
        fields.append((f"v:{draw(st.sampled_from(['k', 'email-id', 'x' + str(index)]))}", draw(hostile_text(6))))
    ids = st.one_of(st.just("m"), sometimes_clean(4))
    variables = {address: {"x": draw(sometimes_clean(6)), "mid": f"{draw(ids)}.{i}@{DOMAIN}"}
                 for i, address in enumerate(recipients)}
    fields.append(("recipient-variables", json.dumps(variables)))
    files = []
    for _ in range(draw(st.integers(0, 2))):
        headers = Headers()
        content_type = draw(st.one_of(st.none(), st.just("text/plain"), sometimes_clean(4).map(
            lambda t: "text/" + t.replace("\r", "").replace("\n", ""))))  # HTTP cannot carry CR/LF here
        if content_type is not None:
            headers.add("Content-Type", content_type)
        filename = draw(st.one_of(st.just("a.txt"), sometimes_clean(6)))
        kind = draw(st.sampled_from(["attachment", "inline"]))
        files.append((kind, FileStorage(io.BytesIO(b"file data"), filename=filename, headers=headers)))
    return fields, files


def to_batch(message: Message) -> tuple[Batch, list[Recipient], Message]:
    """What the gateway stores for ``message``, as the worker reads it back."""
    new_batch, new_recipients = build_batch(message)
    batch = Batch(id=1, domain=new_batch.domain, message_id=new_batch.message_id, response_id=new_batch.response_id,
                  email_id=new_batch.email_id, tags=new_batch.tags, content=new_batch.content,
                  testmode=False, deliver_at=new_batch.deliver_at, created_at=new_batch.created_at, enqueued=True,
                  accepted_logged=True, recipient_count=len(new_recipients))
    rows = [Recipient(id=index + 1, batch_id=1, domain=DOMAIN, address=r.address, name=r.name,
                      message_id=r.message_id, variables=r.variables, status=RecipientStatus.SENDING)
            for index, r in enumerate(new_recipients)]
    return batch, rows, decode_message(encode_message(message))


def squash(value: str) -> str:
    return re.sub(r"[ \t]+", " ", value).strip()


def no_space(value: str) -> str:
    """Encoded words may gain or lose white space between them when folded (a stdlib quirk)."""
    return re.sub(r"\s+", "", value)


def header_block(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def assert_headers_intended(raw: bytes, intended: list[tuple[str, str]]) -> None:
    """``raw`` parses into exactly ``intended`` (plus the MIME structure headers)."""
    for line in header_block(raw):  # every physical line is a field or a continuation, 7-bit clean
        assert re.fullmatch(rb"[!-9;-~]+:[ -~\t]*|[ \t][ -~\t]*", line), line
    mail = BytesParser(policy=default).parsebytes(raw)
    got = sorted(name.lower() for name in mail.keys() if name.lower() not in STRUCTURE)
    assert got == sorted(name.lower() for name, _ in intended)
    for name, value in intended:
        parsed = [str(v) for v in mail.get_all(name)]
        header = REGISTRY(name, value)
        if isinstance(header, AddressHeader):
            parsed_addresses = [REGISTRY(name, v).addresses for v in parsed]
            assert [(no_space(a.display_name), a.addr_spec) for a in header.addresses] in [
                [(no_space(a.display_name), a.addr_spec) for a in found] for found in parsed_addresses]
        elif name == "X-Mailgun-Variables":
            assert [json.loads(v) for v in parsed] == [json.loads(value)]
        elif name.lower() != "date":
            assert no_space(str(header)) in [no_space(v) for v in parsed], (name, value, parsed)


@SETTINGS
@given(send_forms())
def test_any_send_is_refused_or_renders_exactly_the_intended_headers(form):
    fields, files = form
    try:
        message = parse_message(MultiDict(fields), MultiDict(files), DOMAIN)
    except BadRequest as refused:
        assert refused.status == 400 and refused.message
        event("refused")
        return
    event("accepted")
    # accepted: nothing a client wrote directly may hold a forbidden character
    for value in [message.sender, *message.to, *message.cc, message.subject or "", *message.tags,
                  *(v for _, v in message.headers), *(a.filename for a in message.attachments),
                  *(a.content_type for a in message.attachments)]:
        assert FORBIDDEN.search(value) is None, value
    assert all(tag == clean_tag(tag) for tag in message.tags)
    batch, rows, stored = to_batch(message)
    renderer = Renderer(batch, stored)
    for row in rows:
        try:
            rendered = renderer(row)
        except UnsafeHeaderValue as failed:  # only a substituted value may make a recipient fail
            assert "after substitution" in str(failed) or "fold into one header field" in str(failed)
            templates = [message.subject or "", *(v for n, v in message.headers if n.lower() == failed.name.lower())]
            assert failed.name == "Message-ID" or any("%" in t for t in templates), failed
            event("a recipient failed")
            continue
        intended = [(n, v) for n, v in rendered.headers]
        assert "bcc" not in {n.lower() for n, _ in intended}
        assert_headers_intended(rendered.raw, intended)
        expected_names = {"from", "to", "date", "message-id", "x-postgate-id"}
        assert expected_names <= {n.lower() for n, _ in intended}
        extra = [n for n, v in stored.headers if n.lower() not in OWN_HEADERS]
        assert len([n for n, _ in intended if n.lower() not in OWN_HEADERS]) <= len(extra)
        assert [v for n, v in intended if n == "X-Mailgun-Tag"] == message.tags
        mail = BytesParser(policy=default).parsebytes(rendered.raw)
        parts = [part for part in mail.walk() if not part.is_multipart()]
        texts = [p for p in (message.text, message.html) if p is not None] or [""]
        files = [a for a in message.attachments if message.html is not None or not a.inline]  # inline needs html
        assert len(parts) == len(texts) + len(files)
        for part, sent in zip(parts, texts):
            got = part.get_content().replace("\r\n", "\n").replace("\r", "\n").removesuffix("\n")
            assert got == _as_received(sent, row)
        for part, attachment in zip(parts[len(texts):], sorted(files, key=lambda a: not a.inline)):
            assert part.get_filename() == attachment.filename
            assert part.get_content_type() == attachment.content_type.split(";")[0].strip().lower()


def _as_received(text: str, row: Recipient) -> str:
    """``text`` as the recipient reads it: variables substituted, line ends normalised."""
    for key, value in row.variables.items():
        text = text.replace(f"%recipient.{key}%", str(value))
    return text.replace("\r\n", "\n").replace("\r", "\n").removesuffix("\n")


# -- messages.mime --------------------------------------------------------------------------------

MIME_NAMES = st.sampled_from(["From", "To", "Subject", "X-A", "Reply-To", "Bcc", "Content-Type", "Bad Name", ""])


@st.composite
def mime_uploads(draw):
    """A raw message built from intended header pairs, with anything inside names and values."""
    eol = draw(st.sampled_from([b"\r\n", b"\n"]))
    pairs = [("From", "Blog <noreply@mg.example.com>")]
    for _ in range(draw(st.integers(0, 4))):
        pairs.append((draw(MIME_NAMES), draw(sometimes_clean(8))))
    body = draw(sometimes_clean(20))
    lines = [f"{name}: {value}".encode("utf-8", "surrogatepass") for name, value in pairs]
    raw = eol.join(lines) + eol + eol + body.encode("utf-8", "surrogatepass")
    return pairs, body, raw


@SETTINGS
@given(mime_uploads())
def test_any_mime_upload_is_refused_or_sent_with_exactly_its_headers(upload):
    pairs, body, raw = upload
    files = MultiDict([("message", FileStorage(io.BytesIO(raw), filename="MimeMessage"))])
    try:
        message = parse_mime_message(MultiDict([("to", "a@example.com")]), files, DOMAIN)
    except BadRequest as refused:
        assert refused.status == 400 and refused.message.startswith("'message' parameter is not a valid MIME")
        event("refused")
        if all(n in ("Subject", "X-A") and re.fullmatch(r"[A-Za-z0-9 ]*", v) for n, v in pairs[1:]):
            assert b"\r" in body.encode("utf-8", "surrogatepass") or b"\x00" in raw  # clean headers pass
        return
    batch, rows, stored = to_batch(message)
    rendered = Renderer(batch, stored)(rows[0])
    eol = b"\r\n" if raw.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
    head, _, sent_body = rendered.raw.partition(eol + eol)
    lines = head.split(eol)
    for line in lines:  # every physical line is a field or a continuation: no bare CR, NUL, control
        assert re.fullmatch(rb"[!-9;-~]+:[^\r\n]*|[ \t][^\r\n]*", line), line
        assert FORBIDDEN.search(line.decode("utf-8")) is None
    fields = [line.split(b":", 1)[0].decode().lower() for line in lines if line[:1] not in (b" ", b"\t")]
    mail = BytesParser(policy=default).parsebytes(rendered.raw)
    assert [name.lower() for name in mail.keys()] == fields
    assert mail.get_payload(decode=True) == sent_body  # the body is what follows the blank line
    if any(FORBIDDEN.search(v) for _, v in pairs):
        return  # the generated "values" were themselves lines: checked line by line above
    assert fields == ["message-id", *(n.lower() for n, _ in pairs)]
    for name, value in mail.items():
        assert FORBIDDEN.search(str(value)) is None or "=?" in head.decode("utf-8")  # encoded only
    for (name, value), got in zip(pairs, list(mail.values())[1:]):
        if name.lower() in {"subject", "x-a"} and "=?" not in value:
            assert squash(str(got)) == squash(value)
    assert mail.get_payload(decode=True) == sent_body == body.encode("utf-8", "surrogatepass")



# -- o:deliverytime -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.one_of(hostile_text(8), st.text(max_size=40),
                 st.from_regex(r"\A[0-9\u0660-\u0669\u06f0-\u06f9.-]{1,14}\Z"),
                 st.integers(-10**20, 10**20).map(str)))
def test_delivery_time_is_an_ascii_date_within_the_window_or_refused(value):
    now = time.time()
    try:
        when = parse_delivery_time(value, now)
    except BadRequest as refused:
        assert refused.status == 400
        assert refused.message.endswith(("is not an RFC-2822 compliant date", "days ahead"))
        return
    assert value.strip().isascii()
    assert when <= now + MAX_SCHEDULE_DAYS * 86400


@settings(max_examples=60, deadline=None)
@given(st.floats(-86400 * 400, MAX_SCHEDULE_DAYS * 86400 - 60), st.sampled_from(["gmt", "+0000", "epoch"]))
def test_delivery_times_in_the_window_are_accepted_exactly(offset, form):
    now = time.time()
    when = int(now + offset)
    if form == "epoch":
        value = str(when)
    else:
        value = formatdate(when, usegmt=form == "gmt")
    assert parse_delivery_time(value, now) == when


@pytest.mark.parametrize("value", ["١٧٦٣٧٠١٢٠٠", "Fri, ٢١ Nov 2025 05:00:00 GMT", "17637\u202801200"])
def test_delivery_time_refuses_non_ascii_digits(value):
    with pytest.raises(BadRequest, match="not an RFC-2822 compliant date"):
        parse_delivery_time(value)


def test_delivery_time_beyond_the_window_is_refused():
    now = time.time()
    with pytest.raises(BadRequest, match="at most 7 days ahead"):
        parse_delivery_time(formatdate(now + 8 * 86400, usegmt=True), now)
    with pytest.raises(BadRequest, match="not an RFC-2822"):
        parse_delivery_time("9" * 40, now)


# -- addresses ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.one_of(hostile_text(8), st.emails().map(str)),
       st.sampled_from(["{}", "<{}>", "Name <{}>", '"{}" <a@example.com>', "{}@example.com", "a@{}", "a@[{}]"]))
def test_accepted_addresses_are_deliverable(text, shape):
    entry = shape.format(text)
    try:
        message = parse_message(MultiDict([("from", "a@mg.example.com"), ("to", entry), ("text", "t")]),
                                MultiDict(), DOMAIN)
    except BadRequest as refused:
        assert refused.message in {"to parameter is not a valid address. please check documentation",
                                   "to parameter is missing"}
        return
    _, rows, stored = to_batch(message)
    assert all(FORBIDDEN.search(accepted) is None for accepted in message.to)  # entries are trimmed
    assert len(rows) == len(message.to)
    for accepted, row in zip(message.to, rows):  # the header rendering writes names the ledger's address
        assert valid_address(row.address)
        assert [a.addr_spec for a in REGISTRY("To", accepted).addresses] == [row.address]


@pytest.mark.parametrize("entry", ["a@[1.2.3.4", "Eve\n <e@example.com>", "e\u2028@example.com", "a\x00@b.com",
                                   "=?utf-8?q?a=0D=0A?=@example.com",  # a header parser decodes it to CR LF
                                   "x" * 65 + "@example.com", "a@" + "b" * 64 + ".com",
                                   "a@" + ".".join(["b" * 60] * 5), "a@xn--a.com", "a@exa_mple.com",
                                   "a@-bad.com", "a@\u2488.com"])
def test_addresses_delivery_cannot_use_are_refused(entry):
    with pytest.raises(BadRequest, match="to parameter is not a valid address"):
        parse_message(MultiDict([("from", "a@mg.example.com"), ("to", entry), ("text", "t")]), MultiDict(), DOMAIN)


@pytest.mark.parametrize("entry", ["jörg@exämple.de", "Jörg <jörg@exämple.de>", "a@xn--bcher-kva.ch",
                                   '"john doe"@example.com', "u@[192.0.2.1]", "x" * 64 + "@example.com",
                                   "J. Smith <j@example.com>", "Dr. A.B. O'Neil <o@example.com>"])
def test_international_and_quoted_addresses_are_kept(entry):
    message = parse_message(MultiDict([("from", "a@mg.example.com"), ("to", entry), ("text", "t")]),
                            MultiDict(), DOMAIN)
    assert message.to == [entry]


# -- through the HTTP API ---------------------------------------------------------------------------

PATH = f"/v3/{DOMAIN}/messages"
MIME_PATH = f"/v3/{DOMAIN}/messages.mime"
SIMPLE = [("from", "Blog <noreply@mg.example.com>"), ("to", "alice@example.com"), ("subject", "Hi"),
          ("text", "Hello")]


class Api:
    def __init__(self, gateway, client) -> None:
        self.gateway, self.client = gateway, client

    async def send(self, parts, path: str = PATH):
        boundary = "pgtestboundary7eaf186f76b3"
        body = bytearray()
        for name, value in parts:
            body += f"--{boundary}\r\n".encode()
            if isinstance(value, tuple):
                body += f'Content-Disposition: form-data; name="{name}"; filename="{value[0]}"\r\n\r\n'.encode()
                body += value[1] + b"\r\n"
            else:
                body += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                body += value.encode("utf-8") + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        headers = {**basic_auth(), "Content-Type": f"multipart/form-data; boundary={boundary}"}
        return await self.client.post(path, data=bytes(body), headers=headers)

    async def batch(self, batch_id: int):
        return await self.gateway.storage.get_batch(batch_id)

    async def assert_nothing_stored(self) -> None:
        assert await self.gateway.storage.get_batch(1) is None
        assert await self.gateway.queue.receive(100, 0) == []


@pytest.fixture
async def api(gateway_factory):
    gateway = gateway_factory()
    app = create_app(gateway, background=False)
    async with app.test_app() as test_app:
        yield Api(gateway, test_app.test_client())


async def ok(response) -> str:
    body = await response.get_json()
    assert response.status_code == 200, body
    return body["id"]


async def error(response, status: int) -> str:
    body = await response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"message"}
    return body["message"]


PROBES = [
    ("o:tag", "news\r\nBcc: evil@example.com"),
    ("o:tag", "a\r\n\r\nbody"),
    ("h:X-Note", "a\r\nBcc: evil@example.com"),
    ("h:Reply-To", "r@example.com\nBcc: evil@example.com"),
    ("h:X-Note", "nul\x00byte"),
    ("h:X-Note", "line\u2028sep"),
    ("subject", "Hi\r\nBcc: evil@example.com"),
    ("subject", "Hi\x85there"),
    ("from", "Eve\n <noreply@mg.example.com>"),
    ("to", "a@[1.2.3.4"),
    ("o:deliverytime", "Fri, 21 Nov 2099 05:00:00 GMT"),
    ("o:deliverytime", "١٧٦٣٧٠١٢٠٠"),
]


@pytest.mark.parametrize("name,value", PROBES, ids=[f"{n}:{v[:12]!r}" for n, v in PROBES])
async def test_injection_probes_are_refused_or_neutralised(api, name, value):
    parts = [(k, v) for k, v in SIMPLE if k != name] + [(name, value)]
    if name == "from":
        parts = [p for p in parts if p[0] != "from"] + [("from", value)]
    response = await api.send(parts)
    if name == "o:tag":  # tags are cleaned, as Mailgun cleans them; the send goes
        await ok(response)
        batch = await api.batch(1)
        assert batch.tags and all(FORBIDDEN.search(tag) is None for tag in batch.tags)
        assert "Bcc: evil@example.com" not in {t.strip() for t in batch.tags}
        return
    assert (await error(response, 400))
    await api.assert_nothing_stored()


@pytest.mark.parametrize("raw", [
    b"From: a@mg.example.com\r\nSubject: x\rBcc: evil@example.com\r\n\r\nbody",
    b"From: a@mg.example.com\r\nSubject: x\nBcc: evil@example.com\r\n\r\nbody",
    b"From: a@mg.example.com\r\nSubject: x\x00\r\n\r\nbody",
    b"From: a@mg.example.com\r\nnot a header line\r\n\r\nbody",
    b"From: a@mg.example.com\r\nSubject: \xe2\x80\xa8x\r\n\r\nbody",
    b" folded first\r\nFrom: a@mg.example.com\r\n\r\nbody",
])
async def test_mime_smuggling_is_refused(api, raw):
    response = await api.send([("to", "a@example.com"), ("message", ("MimeMessage", raw, None))], path=MIME_PATH)
    assert (await error(response, 400)).startswith("'message' parameter is not a valid MIME message")
    await api.assert_nothing_stored()


# -- through the worker: one bad recipient fails, the rest of the batch goes ------------------------


async def test_a_recipient_whose_variables_break_a_header_fails_alone(gateway_factory):
    import asyncio

    from postgate.domain import EventQuery
    from postgate.worker import Worker

    gateway = gateway_factory(gateway={"lease_seconds": 1.0, "retry_delays": [0.2, 0.4, 0.8]})
    await gateway.start()
    addresses = ["ok@example.com", "crlf@example.com", "sep@example.com"]
    fields = MultiDict([
        ("from", "Blog <noreply@mg.example.com>"), *(("to", a) for a in addresses),
        ("subject", "Hello %recipient.name%"), ("text", "Hi %recipient.name%"),
        ("h:Message-Id", "<%recipient.message_id%>"), ("o:tag", "t"),
        ("recipient-variables", json.dumps({
            "ok@example.com": {"name": "Ok", "message_id": f"m1@{DOMAIN}"},
            "crlf@example.com": {"name": "Crlf", "message_id": f"m2@{DOMAIN}>\r\nBcc: evil@example.com\r\nX: <"},
            "sep@example.com": {"name": "Sep\u2028Bcc: evil@example.com", "message_id": f"m3@{DOMAIN}"},
        })),
    ])
    await gateway.accept(parse_message(fields, MultiDict(), DOMAIN))
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(gateway, "w").run(stop))
    deadline = time.monotonic() + 20
    while await gateway.queue.depth():  # drains: the bad recipients do not wedge the job
        assert time.monotonic() < deadline, "the queue did not drain"
        await asyncio.sleep(0.05)
    stop.set()
    await worker
    events = await gateway.storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=100))
    outcome = {e.recipient: e for e in events if e.event != "accepted"}
    assert outcome["ok@example.com"].event == "delivered"
    for address, header in (("crlf@example.com", "Message-ID"), ("sep@example.com", "Subject")):
        failed = outcome[address].to_mailgun()
        assert failed["event"] == "failed" and failed["severity"] == "permanent"
        assert f"the {header} header would" in failed["delivery-status"]["message"]
    files = list((gateway.delivery.folder / DOMAIN).glob("*.eml"))
    assert len(files) == 1 and b"Bcc" not in files[0].read_bytes()


@pytest.mark.parametrize("content_type,filename", [("text/plain\u2028x", "a.txt"), ("text/plain", "a\u2028b.txt"),
                                                   ("text/plain\x85", "a.txt"), ("multipart/mixed", "a.txt")])
async def test_attachment_names_and_types_are_refused_or_neutralised(api, content_type, filename):
    boundary = "pgtestboundaryattach"
    body = bytearray()
    for name, value in SIMPLE:
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="attachment"; filename="{filename}"\r\n'
             f"Content-Type: {content_type}\r\n\r\nhello\r\n--{boundary}--\r\n").encode()
    headers = {**basic_auth(), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = await api.client.post(PATH, data=bytes(body), headers=headers)
    if response.status_code == 400:
        assert "must not contain line breaks or control characters" in await error(response, 400)
        await api.assert_nothing_stored()
        return
    await ok(response)
    stored = decode_message((await api.batch(1)).content)
    (attachment,) = stored.attachments
    assert FORBIDDEN.search(attachment.filename) is None
    assert re.fullmatch(r"[!-~]+/[!-~]+(;[ -~]*)?", attachment.content_type)
    assert attachment.content_type.split("/")[0] not in ("multipart", "message")


def test_a_batch_stored_before_the_rule_fails_each_recipient_with_a_reason():
    """Values accepted by older versions (a tag with a line break) fail recipients, never the job."""
    message = Message(domain=DOMAIN, sender="Blog <noreply@mg.example.com>", to=["a@example.com"], text="t",
                      tags=["news\r\nBcc: evil@example.com"])
    batch, rows, stored = to_batch(message)
    renderer = Renderer(batch, stored)  # building the renderer must not raise: the worker would retry forever
    with pytest.raises(UnsafeHeaderValue, match="X-Mailgun-Tag header would hold a line break"):
        renderer(rows[0])


@pytest.mark.parametrize("entry,kept", [
    ("Tech: Weekly <noreply@mg.example.com>", '"Tech: Weekly" <noreply@mg.example.com>'),
    ("Blog [News] <noreply@mg.example.com>", '"Blog [News]" <noreply@mg.example.com>'),
    ("Blog @ Home <noreply@mg.example.com>", '"Blog @ Home" <noreply@mg.example.com>'),
])
def test_a_display_name_written_without_its_quotes_is_quoted(entry, kept):
    """Ghost writes the site title unquoted; every parser must read that title, not a group."""
    message = parse_message(MultiDict([("from", entry), ("to", "a@example.com"), ("text", "t")]), MultiDict(), DOMAIN)
    assert message.sender == kept
    batch, rows, stored = to_batch(message)
    mail = BytesParser(policy=default).parsebytes(Renderer(batch, stored)(rows[0]).raw)
    (address,) = mail["From"].addresses
    assert (address.display_name, address.addr_spec) == (entry.split(" <")[0], "noreply@mg.example.com")


ENCODED_BREAKS = ["=?utf-8?q?a=0D=0A?=", "=?utf-8?b?YQ0K?=", "x =?utf-8?q?=0A?= y", "=?utf-8?q?=00?=", "=?utf-8?q?=E2=80=A8?="]


@pytest.mark.parametrize("encoded", ENCODED_BREAKS)
@pytest.mark.parametrize("kind", ["attachment", "inline"])
def test_a_file_name_whose_encoded_words_hold_a_line_break_is_refused_at_the_edge(encoded, kind):
    """The standard library decodes encoded words even in a quoted parameter and writes what they
    hold when it folds: such a name must be refused with a 400, not fail every recipient later."""
    fields = MultiDict([("from", f"Blog <noreply@{DOMAIN}>"), ("to", "alice@example.com"), ("text", "hi"),
                        ("html", "<p>hi</p>")])
    files = MultiDict([(kind, FileStorage(io.BytesIO(b"data"), filename=encoded))])
    with pytest.raises(BadRequest) as refused:
        parse_message(fields, files, DOMAIN)
    assert refused.value.status == 400 and "file name" in refused.value.message


@pytest.mark.parametrize("encoded", ENCODED_BREAKS)
def test_a_content_type_parameter_with_encoded_breaks_falls_back_and_renders(encoded):
    fields = MultiDict([("from", f"Blog <noreply@{DOMAIN}>"), ("to", "alice@example.com"), ("text", "hi")])
    headers = Headers()
    headers.add("Content-Type", f'text/plain; name="{encoded}"')
    files = MultiDict([("attachment", FileStorage(io.BytesIO(b"data"), filename="a.txt", headers=headers))])
    message = parse_message(fields, files, DOMAIN)
    assert message.attachments[0].content_type == "text/plain"  # guessed from the name, parameters dropped
    batch, rows, stored = to_batch(message)
    rendered = Renderer(batch, stored)(rows[0])
    assert b"\r\n\r\n" in rendered.raw and b"a.txt" in rendered.raw


def test_a_harmless_encoded_word_file_name_is_kept():
    fields = MultiDict([("from", f"Blog <noreply@{DOMAIN}>"), ("to", "alice@example.com"), ("text", "hi")])
    files = MultiDict([("attachment", FileStorage(io.BytesIO(b"data"), filename="=?utf-8?q?caf=C3=A9.txt?="))])
    message = parse_message(fields, files, DOMAIN)
    batch, rows, stored = to_batch(message)
    Renderer(batch, stored)(rows[0])  # renders without refusing the recipient
    assert message.attachments[0].filename == "=?utf-8?q?caf=C3=A9.txt?="
