"""HTTP tests of ``POST /v3/<domain>/messages`` and ``/messages.mime`` over the test app,
with the default storage and queue, asserting what was (and was not) stored."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from postgate.app import Gateway
from postgate.codec import decode_message
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, basic_auth
from postgate.web import create_app

PATH = f"/v3/{TEST_DOMAIN}/messages"
MIME_PATH = f"/v3/{TEST_DOMAIN}/messages.mime"
MAILGUN_ID = re.compile(r"^<\d{14}\.[0-9a-f]{16}@mg\.example\.com>$")
BOUNDARY = "--------------------------7eaf186f76b3f9f64a549925"


# -- request bodies, shaped like the clients shape them -----------------------------------------

Part = tuple[str, Any]  # (name, str) or (name, (filename, bytes, content_type or None))


def multipart(parts: list[Part], boundary: str = BOUNDARY) -> tuple[bytes, dict[str, str]]:
    """A multipart body the way form-data (mailgun.js) writes it: simple parts carry no Content-Type."""
    out = bytearray()
    for name, value in parts:
        out += f"--{boundary}\r\n".encode()
        if isinstance(value, tuple):
            filename, data, content_type = value
            out += f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode()
            if content_type:
                out += f"Content-Type: {content_type}\r\n".encode()
            out += b"\r\n" + data + b"\r\n"
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            out += value.encode("utf-8") + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def urlencoded(pairs: list[tuple[str, str]]) -> tuple[bytes, dict[str, str]]:
    return urlencode(pairs).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


def ghost_message_id(email_id: str, address: str) -> str:
    digest = hashlib.sha256(f"{email_id}:{address}".encode()).hexdigest()[:32]
    return f"{email_id}.{digest}@{TEST_DOMAIN}"


def ghost_batch(count: int, email_id: str = "6740a1b2c3d4e5f6a7b8c9d0", pad: int = 0) -> list[Part]:
    """A Ghost 6.65 newsletter batch, field for field and in order (contract §2.2)."""
    addresses = [f"member{i}+x@example.com" for i in range(count)]
    variables = {
        a: {
            "name": f"Member {i}",
            "name_html": f"Member {i}",
            "unsubscribe_url": f"https://blog.example/unsubscribe/?uuid={i:032x}&newsletter=abc" + "x" * pad,
            "list_unsubscribe": f"https://blog.example/unsubscribe/?uuid={i:032x}&key={i:064x}",
            "message_id": ghost_message_id(email_id, a),
        }
        for i, a in enumerate(addresses)
    }
    return [
        *[("to", a) for a in addresses],
        ("from", "My Blog <noreply@mg.example.com>"),
        ("subject", "Hello %recipient.name%"),
        ("html", '<p>Hi %recipient.name_html%</p><a href="%recipient.unsubscribe_url%">unsub</a>'),
        ("text", "Hi %recipient.name%"),
        ("recipient-variables", json.dumps(variables)),
        ("h:Sender", "My Blog <noreply@mg.example.com>"),
        ("h:Auto-Submitted", "auto-generated"),
        ("h:X-Auto-Response-Suppress", "OOF, AutoReply"),
        ("h:List-Unsubscribe", "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>"),
        ("h:List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("v:email-id", email_id),
        ("o:tag", "ghost-email"),
        ("o:tag", "bulk-email"),
        ("o:testmode", "yes"),
        ("o:tracking-opens", "yes"),
        ("o:deliverytime", "Fri, 21 Nov 2025 05:00:00 GMT"),
        ("h:Message-Id", "<%recipient.message_id%>"),
    ]


SIMPLE: list[Part] = [("from", "Blog <noreply@mg.example.com>"), ("to", "alice@example.com"),
                      ("subject", "Hi"), ("text", "Hello")]


# -- the app ------------------------------------------------------------------------------------


@dataclass
class Api:
    gateway: Gateway
    client: Any

    async def post(self, path: str, body: bytes, headers: dict[str, str], auth: bool = True):
        return await self.client.post(path, data=body, headers={**(basic_auth() if auth else {}), **headers})

    async def send(self, parts: list[Part], path: str = PATH, **kw):
        return await self.post(path, *multipart(parts), **kw)

    async def send_urlencoded(self, pairs: list[tuple[str, str]], path: str = PATH, **kw):
        return await self.post(path, *urlencoded(pairs), **kw)

    async def batch(self, batch_id: int):
        return await self.gateway.storage.get_batch(batch_id)

    async def recipients(self, batch_id: int):
        return await self.gateway.storage.list_recipients(batch_id, 0, 5000)

    async def jobs(self):
        return await self.gateway.queue.receive(100, 0)

    async def assert_nothing_stored(self):
        assert await self.batch(1) is None
        assert await self.jobs() == []


async def open_api(gateway_factory, **settings):
    gateway = gateway_factory(**settings)
    app = create_app(gateway, background=False)
    return app, gateway


@pytest.fixture
async def api(gateway_factory):
    app, gateway = await open_api(gateway_factory)
    async with app.test_app() as test_app:
        yield Api(gateway, test_app.test_client())


async def ok(response) -> str:
    body = await response.get_json()
    assert response.status_code == 200, body
    assert response.mimetype == "application/json"
    assert list(body) == ["id", "message"]
    assert body["message"] == "Queued. Thank you."
    return body["id"]


async def error(response, status: int) -> str:
    body = await response.get_json()
    assert response.status_code == status, body
    assert response.mimetype == "application/json"
    assert set(body) == {"message"}
    return body["message"]


# -- success ------------------------------------------------------------------------------------


async def test_simple_multipart_send(api):
    message_id = await ok(await api.send(SIMPLE))
    assert MAILGUN_ID.match(message_id)
    batch = await api.batch(1)
    assert batch.domain == TEST_DOMAIN and batch.response_id == message_id
    assert batch.message_id == message_id.strip("<>")
    assert [r.address for r in await api.recipients(1)] == ["alice@example.com"]
    assert len(await api.jobs()) == 1
    stored = decode_message(batch.content)
    assert (stored.sender, stored.subject, stored.text) == ("Blog <noreply@mg.example.com>", "Hi", "Hello")


async def test_ghost_batch_of_1000(api):
    parts = ghost_batch(1000, pad=820)
    body, headers = multipart(parts)
    assert len(dict(parts)["recipient-variables"]) > 1_000_000
    message_id = await ok(await api.post(PATH, body, headers))
    assert message_id == "<%recipient.message_id%>"
    batch = await api.batch(1)
    assert batch.recipient_count == 1000
    assert batch.email_id == "6740a1b2c3d4e5f6a7b8c9d0"
    assert batch.testmode is True
    assert batch.deliver_at == 1763701200.0
    assert sorted(batch.tags) == ["bulk-email", "ghost-email"]
    rows = await api.recipients(1)
    assert len(rows) == 1000
    first = rows[0]
    assert first.address == "member0+x@example.com"
    assert first.message_id == ghost_message_id("6740a1b2c3d4e5f6a7b8c9d0", "member0+x@example.com")
    stored = decode_message(batch.content)
    assert stored.tracking_opens is True and stored.tracking_clicks is False
    assert stored.header("List-Unsubscribe") == "<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>"
    assert stored.recipient_variables["member1+x@example.com"]["name"] == "Member 1"
    jobs = await api.jobs()
    size = api.gateway.settings.gateway.job_size  # one job per job_size rows (0: one per batch)
    assert len(jobs) == (1 if size == 0 else -(-1000 // size))
    assert sorted(job.first_id for job in jobs)[0] == rows[0].id


async def test_ghost_batch_repost_is_idempotent(api):
    parts = ghost_batch(3)
    first = await ok(await api.send(parts))
    again = await ok(await api.send(parts))
    assert first == again == "<%recipient.message_id%>"
    assert await api.batch(2) is None
    assert len(await api.recipients(1)) == 3
    assert len(await api.jobs()) == 1


async def test_repost_without_message_id_template_returns_the_original_id(api):
    parts = [p for p in ghost_batch(2) if p[0] != "h:Message-Id"]
    first = await ok(await api.send(parts))
    assert MAILGUN_ID.match(first)
    assert await ok(await api.send(parts)) == first
    other = [("v:email-id", "another-email") if p[0] == "v:email-id" else p for p in parts]
    assert await ok(await api.send(other)) != first
    assert await api.batch(2) is not None


async def test_each_call_without_email_id_is_a_new_batch(api):
    first = await ok(await api.send(SIMPLE))
    second = await ok(await api.send(SIMPLE))
    assert first != second
    assert (await api.batch(2)).response_id == second


async def test_python_sdk_urlencoded_with_true_booleans(api):
    pairs = [("from", "a@mg.example.com"), ("to", "x@example.com"), ("to", "y@example.com"), ("subject", "s"),
             ("text", "t"), ("o:tag", "a"), ("o:tag", "b"), ("o:tracking", "True"), ("o:testmode", "True")]
    body = urlencode(pairs).encode()
    assert b"o%3Atag=a&o%3Atag=b&o%3Atracking=True" in body
    await ok(await api.post(PATH, body, {"Content-Type": "application/x-www-form-urlencoded"}))
    stored = decode_message((await api.batch(1)).content)
    assert stored.to == ["x@example.com", "y@example.com"]
    assert stored.tags == ["a", "b"]
    assert stored.testmode is True
    assert (stored.tracking_opens, stored.tracking_clicks) == (True, True)


async def test_nodemailer_comma_joined_to_and_quoted_display_names(api):
    parts = [("from", '"Blog" <noreply@mg.example.com>'),
             ("to", 'a@x.com,b+tag@y.com,"Doe, John" <john@example.com>'),
             ("subject", "Sign in"), ("html", "<p>link</p>"), ("o:tag", "ghost-email"),
             ("o:tag", "transactional-email"), ("o:tracking-opens", "yes"), ("h:X-Ghost", "1")]
    await ok(await api.send(parts))
    rows = await api.recipients(1)
    assert [r.address for r in rows] == ["a@x.com", "b+tag@y.com", "john@example.com"]
    assert rows[2].name == "Doe, John"
    stored = decode_message((await api.batch(1)).content)
    assert stored.to == ["a@x.com", "b+tag@y.com", '"Doe, John" <john@example.com>']
    assert stored.recipient_variables is None


async def test_anymail_multipart_with_attachment(api):
    parts = [("from", "Blog <noreply@mg.example.com>"), ("to", "Alice <alice@example.com>"),
             ("to", "bob@example.com"), ("subject", "Hi %recipient.name%"), ("h:Reply-To", "support@example.com"),
             ("h:X-Custom", "1"), ("text", "..."), ("html", "<p>...</p>"), ("v:campaign", "c1"),
             ("o:deliverytime", "Fri, 21 Nov 2025 05:00:00 GMT"), ("o:tag", "newsletter"), ("o:tag", "weekly"),
             ("o:tracking-clicks", "no"), ("o:tracking-opens", "yes"), ("v:uid", "%recipient.v:uid%"),
             ("recipient-variables", json.dumps({"alice@example.com": {"v:uid": "1", "name": "Alice"},
                                                 "bob@example.com": {"v:uid": "2", "name": "Bob"}})),
             ("attachment", ("a.txt", b"file body", 'text/plain; charset="utf-8"')),
             ("inline", ("logo.png", b"\x89PNG\r\n", None))]
    await ok(await api.send(parts))
    stored = decode_message((await api.batch(1)).content)
    assert [(a.filename, a.content_type, a.data, a.inline) for a in stored.attachments] == [
        ("a.txt", 'text/plain; charset="utf-8"', b"file body", False),
        ("logo.png", "image/png", b"\x89PNG\r\n", True),
    ]
    assert stored.variables == {"campaign": "c1", "uid": "%recipient.v:uid%"}
    assert stored.headers == [("Reply-To", "support@example.com"), ("X-Custom", "1")]
    assert stored.deliver_at == 1763701200.0
    assert [r.variables.get("name") for r in await api.recipients(1)] == ["Alice", "Bob"]


async def test_python_sdk_file_without_content_type(api):
    parts = [*SIMPLE, ("attachment", ("report.csv", b"a,b\n1,2\n", None))]
    await ok(await api.send(parts))
    stored = decode_message((await api.batch(1)).content)
    assert [(a.filename, a.content_type) for a in stored.attachments] == [("report.csv", "text/csv")]


async def test_ghost_gift_delivery_tracking_off(api):
    parts = [("to", "g@example.com"), ("from", "Blog <noreply@mg.example.com>"), ("subject", "A gift"),
             ("html", "<p>gift</p>"), ("recipient-variables", json.dumps({"g@example.com": {}})),
             ("o:tag", "ghost-email"), ("o:tag", "gift-delivery"), ("o:tracking", "no"),
             ("o:tracking-clicks", "no"), ("o:tracking-opens", "no")]
    assert MAILGUN_ID.match(await ok(await api.send(parts)))
    stored = decode_message((await api.batch(1)).content)
    assert (stored.tracking_opens, stored.tracking_clicks) == (False, False)
    assert stored.batch_mode and stored.email_id is None


async def test_domain_in_path_is_case_insensitive(api):
    await ok(await api.send(SIMPLE, path="/v3/MG.Example.COM/messages"))
    assert (await api.batch(1)).domain == TEST_DOMAIN


async def test_mime_send(api):
    raw = (b"From: Blog <noreply@mg.example.com>\r\nTo: a@example.com\r\nSubject: Raw\r\n"
           b"Content-Type: text/plain\r\n\r\nhello\r\n")
    parts = [("to", "a@example.com,b@example.com"), ("o:tag", "mime"), ("v:k", "v"),
             ("message", ("MimeMessage", raw, None))]
    message_id = await ok(await api.send(parts, path=MIME_PATH))
    assert MAILGUN_ID.match(message_id)
    stored = decode_message((await api.batch(1)).content)
    assert stored.mime == raw and stored.subject == "Raw" and stored.tags == ["mime"]
    assert [r.address for r in await api.recipients(1)] == ["a@example.com", "b@example.com"]


# -- bad input: right status, Mailgun's text, nothing stored --------------------------------------


def replace(parts: list[Part], name: str, *values: str) -> list[Part]:
    kept = [p for p in parts if p[0] != name]
    return [*kept, *[(name, v) for v in values]]


BAD_SENDS = [
    (replace(SIMPLE, "from"), "from parameter is missing"),
    (replace(SIMPLE, "to"), "to parameter is missing"),
    (replace(SIMPLE, "text"), "Need at least one of 'text' or 'html' parameters specified"),
    (replace(SIMPLE, "to", "not an address"), "to parameter is not a valid address. please check documentation"),
    (replace(SIMPLE, "from", "nobody"), "from parameter is not a valid address. please check documentation"),
    ([*SIMPLE, ("cc", "a@")], "cc parameter is not a valid address. please check documentation"),
    ([*SIMPLE, ("bcc", "x y@z.com")], "bcc parameter is not a valid address. please check documentation"),
    (replace(SIMPLE, "to", *[f"u{i}@example.com" for i in range(1001)]), "Too many recipients, max is 1000"),
    ([*SIMPLE, ("recipient-variables", "{not json")], "'recipient-variables' parameter is not a valid JSON"),
    ([*SIMPLE, ("o:deliverytime", "next friday")], "next friday is not an RFC-2822 compliant date"),
    ([*SIMPLE, ("h:Ünïcode", "1")], "Header name must be pure ASCII: Ünïcode"),
    ([*SIMPLE, ("v:big", "x" * 17000)],
     "Send options (parameters starting with o:, h:, or v:) are limited to 16 kB total"),
    ([*SIMPLE, ("attachment", "not a file")], "'attachment' parameter is not a file"),
    ([*SIMPLE, ("o:testmode", "perhaps")], "'o:testmode' parameter is not a valid boolean value: perhaps"),
]


@pytest.mark.parametrize("parts,text", BAD_SENDS, ids=[text[:40] for _, text in BAD_SENDS])
async def test_bad_sends(api, parts, text):
    assert await error(await api.send([*parts, ("o:tag", "should-not-exist")]), 400) == text
    await api.assert_nothing_stored()
    assert not await api.gateway.storage.list_tags(TEST_DOMAIN, limit=10)


async def test_template_is_refused(api):
    message = await error(await api.send([*SIMPLE, ("template", "welcome")]), 400)
    assert "'template' parameter is not supported" in message
    await api.assert_nothing_stored()


async def test_files_in_urlencoded_body(api):
    response = await api.send_urlencoded([(k, v) for k, v in SIMPLE] + [("attachment", "data")])
    assert await error(response, 400) == (
        "Invalid request content type. Expecting 'multipart/form-data' but got 'application/x-www-form-urlencoded'")
    await api.assert_nothing_stored()


async def test_urlencoded_errors_use_the_same_texts(api):
    response = await api.send_urlencoded([("to", "a@example.com"), ("text", "x")])
    assert await error(response, 400) == "from parameter is missing"
    await api.assert_nothing_stored()


@pytest.mark.parametrize("body,headers", [
    (b"garbage", {"Content-Type": "multipart/form-data"}),
    (b"--x\r\nnot a part", {"Content-Type": "multipart/form-data; boundary=x"}),
    (b"\xff\xfe=\xff", {"Content-Type": "application/x-www-form-urlencoded"}),
    (b"{}", {"Content-Type": "application/json"}),
    (b"", {}),
])
async def test_unparseable_bodies_are_400_not_500(api, body, headers):
    assert await error(await api.post(PATH, body, headers), 400) == "from parameter is missing"
    await api.assert_nothing_stored()


async def test_mime_errors(api):
    raw = ("message", ("MimeMessage", b"Subject: x\r\n\r\nbody", None))
    cases = [
        ([("to", "a@example.com")], "message parameter is missing"),
        ([("to", "a@example.com"), ("message", "Subject: x\r\n\r\nbody")], "'message' parameter is not a file"),
        ([raw], "to parameter is missing"),
        ([("to", "nope"), raw], "to parameter is not a valid address. please check documentation"),
    ]
    for parts, text in cases:
        assert await error(await api.send(parts, path=MIME_PATH), 400) == text
    response = await api.send_urlencoded([("to", "a@example.com"), ("message", "Subject: x\r\n\r\nbody")],
                                         path=MIME_PATH)
    assert (await error(response, 400)).startswith("Invalid request content type.")
    await api.assert_nothing_stored()


async def test_validate_message_hook_refusal_stores_nothing(gateway_factory):
    from postgate.hookspecs import hookimpl

    class NoBob:
        @hookimpl
        def validate_message(self, gateway, message):
            return "bob may not receive mail" if "bob@example.com" in message.to else None

    gateway = gateway_factory(plugins=[NoBob()])
    app = create_app(gateway, background=False)
    async with app.test_app() as test_app:
        api = Api(gateway, test_app.test_client())
        assert await error(await api.send(replace(SIMPLE, "to", "bob@example.com")), 400) == (
            "bob may not receive mail")
        await api.assert_nothing_stored()
        await ok(await api.send(SIMPLE))


# -- size limits ------------------------------------------------------------------------------


async def test_body_over_the_size_limit_is_413(gateway_factory):
    app, gateway = await open_api(gateway_factory, gateway={"max_request_mb": 0.25})
    async with app.test_app() as test_app:
        api = Api(gateway, test_app.test_client())
        response = await api.send([*SIMPLE, ("html", "x" * 300_000)])
        assert (await error(response, 413)).startswith("Request too large")
        response = await api.send_urlencoded([*SIMPLE, ("html", "x" * 300_000)])
        assert (await error(response, 413)).startswith("Request too large")
        await api.assert_nothing_stored()
        await ok(await api.send([*SIMPLE, ("html", "x" * 100_000)]))


async def test_too_many_form_parts_is_413_json(api):
    parts = [*SIMPLE, *[("o:tag", "t") for _ in range(6000)]]
    assert (await error(await api.send(parts), 413)).startswith("Request too large")
    await api.assert_nothing_stored()


def test_size_limits_over_a_real_server(live_server):
    import httpx

    server = live_server(background=False, gateway={"max_request_mb": 0.25})
    url = f"{server.url}{PATH}"
    big = {"from": (None, "a@mg.example.com"), "to": (None, "b@example.com"), "html": (None, "x" * 400_000)}
    many = [("to", (None, "b@example.com")) for _ in range(6000)]

    def chunked():
        yield b"from=a%40mg.example.com&to=b%40example.com&html="
        for _ in range(40):
            yield b"x" * 10_000

    responses = [
        httpx.post(url, files=big, headers=basic_auth(), timeout=30),
        httpx.post(url, files=many, headers=basic_auth(), timeout=30),
        httpx.post(url, content=chunked(),
                   headers={**basic_auth(), "Content-Type": "application/x-www-form-urlencoded"}, timeout=30),
    ]
    for response in responses:
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/json"
        assert response.json()["message"].startswith("Request too large")
    assert server.run(server.gateway.storage.get_batch(1)) is None


# -- authentication and routing -------------------------------------------------------------------


async def forbidden(response) -> None:
    assert response.status_code == 401
    assert response.mimetype == "text/plain"
    assert await response.get_data(as_text=True) == "Forbidden"


@pytest.mark.parametrize("headers", [
    {},
    basic_auth("wrong-key"),
    {"Authorization": "Basic " + base64.b64encode(f"user:{TEST_KEY}".encode()).decode()},
    {"Authorization": f"Bearer {TEST_KEY}"},
    {"Authorization": "Basic !!!"},
])
async def test_auth_failures(api, headers):
    body, content_type = multipart(SIMPLE)
    await forbidden(await api.client.post(PATH, data=body, headers={**content_type, **headers}))
    await api.assert_nothing_stored()


async def test_unknown_domain(api):
    response = await api.send(SIMPLE, path="/v3/x/messages")
    assert await error(response, 404) == "Domain not found: x"
    await api.assert_nothing_stored()


@pytest.mark.parametrize("path", [
    f"/v3/{TEST_DOMAIN}/messages.json",
    f"//v3/{TEST_DOMAIN}/messages",
    f"/V3/{TEST_DOMAIN}/messages",
    f"/v3/{TEST_DOMAIN}/messages/",
    f"/v3/{TEST_DOMAIN}/messages.mime.json",
    f"/v3/{TEST_DOMAIN}/unknown/sub/path",
    f"/v4/{TEST_DOMAIN}/messages",
    "/v3",
    "/v3/",
    "/v3/domains",
])
async def test_api_paths_need_a_key(api, path):
    await forbidden(await api.send(SIMPLE, path=path, auth=False))
    await forbidden(await api.client.get(path))
    await api.assert_nothing_stored()


@pytest.mark.parametrize("path", [f"/v3/{TEST_DOMAIN}/messages.json", f"/v3/{TEST_DOMAIN}/unknown/sub/path"])
async def test_unknown_api_paths_with_a_key_are_json_404(api, path):
    assert await error(await api.send(SIMPLE, path=path), 404) == "Not Found"
    await api.assert_nothing_stored()


async def test_get_on_messages_is_405_json(api):
    response = await api.client.get(PATH, headers=basic_auth())
    assert await error(response, 405) == "Method Not Allowed"


# -- a real client over a real server ------------------------------------------------------------


def test_python_sdk_against_live_server(live_server):
    from mailgun.client import Client

    server = live_server(background=False)
    with Client(auth=("api", TEST_KEY), api_url=server.url) as client:
        response = client.messages.create(
            domain=TEST_DOMAIN,
            data={"from": "Blog <noreply@mg.example.com>", "to": ["x@example.com", "y@example.com"],
                  "subject": "s", "text": "t", "o:tag": ["September newsletter", "b"], "o:tracking": True},
            files=[("attachment", ("a.txt", b"attached"))],
        )
    assert response.status_code == 200
    body = response.json()
    assert MAILGUN_ID.match(body["id"]) and body["message"] == "Queued. Thank you."
    batch = server.run(server.gateway.storage.get_batch(1))
    stored = decode_message(batch.content)
    assert stored.tags == ["September newsletter", "b"]
    assert stored.tracking_opens is True
    assert [a.data for a in stored.attachments] == [b"attached"]


async def test_concurrent_reposts_store_one_batch(api):
    parts = ghost_batch(5)
    ids = [await ok(r) for r in await asyncio.gather(*[api.send(parts) for _ in range(4)])]
    assert set(ids) == {"<%recipient.message_id%>"}
    assert await api.batch(2) is None
    assert len(await api.recipients(1)) == 5
    # Racing re-POSTs may each queue a job before the first marks the batch queued; every job
    # names the one batch, and its ledger rows are claimed once whichever job runs.
    assert {job.batch_id for job in await api.jobs()} == {1}
