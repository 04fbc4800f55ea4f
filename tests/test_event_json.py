"""Events API items spliced from stored payload text are byte for byte the parsed-and-encoded ones."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from postgate.domain import Event, EventQuery
from postgate.event_json import canonical_payload, mailgun_json, splice
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate.web import create_app

JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KINDS = st.sampled_from(["delivered", "failed", "opened", "accepted", "complained", "ü-kind"])


def as_api_writes(event: Event) -> str:
    """The item as the events API wrote it before splicing: to_mailgun() through the app's JSON."""
    return json.dumps(event.to_mailgun(), ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=300, deadline=None)
@given(members=st.dictionaries(st.text(max_size=12).filter(lambda k: k not in ("id", "timestamp", "event")),
                               JSON_VALUES, max_size=8),
       kind=KINDS, event_id=st.text(max_size=30), recorded_at=st.integers(0, 2**62))
def test_splice_equals_parse_and_encode(members: dict[str, Any], kind: str, event_id: str, recorded_at: int) -> None:
    payload = {**members, "event": kind}
    text = canonical_payload(payload, kind)
    if text is None:  # only a string UTF-8 cannot hold keeps a payload from being spliced here
        assert any("\ud800" <= char <= "\udfff" for char in json.dumps(payload, ensure_ascii=False))
        return
    stored = Event(domain=TEST_DOMAIN, event=kind, recipient=None, message_id=None, payload=json.loads(text),
                   event_id=event_id, recorded_at=recorded_at)
    assert splice(event_id, recorded_at, text) == as_api_writes(stored) == mailgun_json(stored)


def test_payloads_that_are_not_spliced() -> None:
    assert canonical_payload({"recipient": "a@b"}, "delivered") is None  # no event member: the API adds it
    assert canonical_payload({"event": "opened"}, "delivered") is None  # the API would overwrite it
    assert canonical_payload({"event": "delivered", "id": "x"}, "delivered") is None
    assert canonical_payload({"event": "delivered", "timestamp": 1}, "delivered") is None
    assert canonical_payload({"event": "delivered", 1: "x"}, "delivered") is None
    assert canonical_payload({"event": "delivered", "x": "\ud800"}, "delivered") is None
    assert canonical_payload({"event": "delivered", "x": "ü"}, "delivered") == '{"event":"delivered","x":"ü"}'


def event(kind: str, recipient: str, **extra: Any) -> Event:
    payload = {"event": kind, "recipient": recipient, "tags": ["bulk-email"], **extra}
    return Event(domain=TEST_DOMAIN, event=kind, recipient=recipient, message_id=f"m.{recipient}", payload=payload,
                 tags=["bulk-email"])


async def test_pages_are_the_same_bytes_spliced_or_parsed(gateway_factory) -> None:
    """Rows written before the flag (payload_canonical = 0, payload in json.dumps' default form)
    answer exactly as the same rows spliced."""
    gateway = gateway_factory()
    app = create_app(gateway)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        await gateway.record_events([
            event("delivered", "ada@example.com"),
            event("failed", "bö@example.com", severity="permanent", note="ß\u2028 \"quoted\" \\ \x01"),
            Event(domain=TEST_DOMAIN, event="opened", recipient="c@example.com", message_id=None,
                  payload={"recipient": "c@example.com"}),  # no event member: never spliced
            event("delivered", "d@example.com", **{"user-variables": {"n": 1.5, "big": 2**65, "x": None}}),
        ])
        storage = gateway.storage
        async with storage.session() as db:
            flags = [row[0] for row in await db.fetch("SELECT payload_canonical FROM events ORDER BY id")]
        assert flags == [1, 1, 0, 1]

        async def pages() -> list[bytes]:
            out = []
            for query in ("ascending=yes&limit=2", "ascending=no", "event=failed"):
                response = await client.get(f"/v3/{TEST_DOMAIN}/events?{query}", headers=basic_auth())
                assert response.status_code == 200 and response.mimetype == "application/json"
                out.append(await response.get_data())
            return out

        spliced = await pages()
        async with storage.session(write=True) as db:
            for row_id, payload in await db.fetch("SELECT id, payload FROM events"):
                await db.execute("UPDATE events SET payload = ?, payload_canonical = 0 WHERE id = ?",
                                 (json.dumps(json.loads(payload)), row_id))
        assert await pages() == spliced
        body = json.loads(spliced[1])
        assert [item["event"] for item in body["items"]] == ["delivered", "opened", "failed", "delivered"]
        assert body["items"][2]["note"] == "ß\u2028 \"quoted\" \\ \x01"
        assert list(body["items"][0])[:3] == ["id", "timestamp", "event"]
        served = await storage.page_served_events(EventQuery(domain=TEST_DOMAIN, ascending=True))
        assert [item.json for item in served] == [mailgun_json(e) for e in await storage.page_events(
            EventQuery(domain=TEST_DOMAIN, ascending=True))]
