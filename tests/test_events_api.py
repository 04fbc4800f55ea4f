"""The events API (contract §3): query parsing, page tokens and paging the way Ghost/mailgun.js do."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import pytest_asyncio
from werkzeug.datastructures import MultiDict

from postgate.app import Gateway
from postgate.domain import Event, Or, Term
from postgate.errors import BadRequest
from postgate.mailgun.events_api import parse_query
from postgate.mailgun.events_paging import PageState
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, basic_auth
from postgate.testing.storage_contract import ManualClock
from postgate.web import create_app

OTHER_DOMAIN = "other.example.com"
TOKEN_ALPHABET = re.compile(r"^[A-Za-z0-9_-]+$")
GHOST_EVENTS = "delivered OR failed OR unsubscribed OR complained"


# -- helpers ------------------------------------------------------------------------------------


def make_event(kind: str, recipient: str = "alice@example.com", tags: tuple[str, ...] = ("ghost-email", "bulk-email"),
               domain: str = TEST_DOMAIN, severity: str | None = None) -> Event:
    """An event shaped like contract §3.5 (storage adds ``id`` and ``timestamp``)."""
    message_id = f"20251121050000.{uuid.uuid4().hex[:16]}@{domain}"
    payload: dict[str, Any] = {
        "log-level": "info",
        "recipient": recipient,
        "recipient-domain": recipient.split("@")[1],
        "tags": list(tags),
        "campaigns": [],
        "user-variables": {"email-id": "6740a1b2c3d4e5f6a7b8c9d0"},
        "flags": {"is-routed": False, "is-authenticated": True, "is-system-test": False, "is-test-mode": False},
        "message": {"headers": {"message-id": message_id}},
    }
    if kind == "failed":
        severity = severity or "permanent"
        payload.update({
            "log-level": "error" if severity == "permanent" else "warn",
            "severity": severity,
            "reason": "bounce" if severity == "permanent" else "generic",
            "delivery-status": {"code": 550 if severity == "permanent" else 451, "message": "no", "description": "",
                                "attempt-no": 1},
        })
    return Event(domain=domain, event=kind, recipient=recipient, message_id=message_id, payload=payload,
                 email_id="6740a1b2c3d4e5f6a7b8c9d0", tags=list(tags), severity=severity)


@dataclass
class Api:
    gateway: Gateway
    client: Any

    async def record(self, *events: Event) -> list[Event]:
        """Store events one call each, so each gets its own ``recorded_at``."""
        stored = []
        for event in events:
            stored.extend(await self.gateway.record_events([event]))
        return stored

    async def get(self, path: str, status: int = 200) -> dict[str, Any]:
        response = await self.client.get(path, headers=basic_auth())
        body = await response.get_json()
        assert response.status_code == status, body
        return body


@pytest_asyncio.fixture
async def api(gateway_factory):
    gateway = gateway_factory(domains={OTHER_DOMAIN: {"api_key": TEST_KEY}})
    app = create_app(gateway)
    async with app.test_app() as test_app:
        yield Api(gateway, test_app.test_client())


def token_of(url: str) -> str:
    """What mailgun.js does: the part after the last ``/``."""
    return url.split("/")[-1]


def page_path(url: str, query: str = "") -> str:
    """The request mailgun.js makes for a paging link: token in the path, original query re-sent."""
    path = f"/v3/{TEST_DOMAIN}/events/{token_of(url)}"
    return f"{path}?{query}" if query else path


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


def assert_paging(body: dict[str, Any], domain: str = TEST_DOMAIN, origin: str = "http://localhost") -> None:
    paging = body["paging"]
    assert list(paging) == ["previous", "first", "last", "next"]
    for url in paging.values():
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == origin
        assert parts.query == "" and parts.fragment == ""
        prefix, token = parts.path.rsplit("/", 1)
        assert prefix == f"/v3/{domain}/events"
        assert token == token_of(url)
        assert TOKEN_ALPHABET.match(token) and len(token) < 2000


def now() -> float:
    return time.time()


# -- query parsing (no HTTP) -------------------------------------------------------------------


def q(query: str) -> PageState:
    from urllib.parse import parse_qsl

    return parse_query(MultiDict(parse_qsl(query, keep_blank_values=True)), TEST_DOMAIN)


def test_ghost_query_string_parses_exactly():
    state = q("limit=300&event=delivered+OR+failed+OR+unsubscribed+OR+complained&tags=bulk-email"
              "&begin=1795235804.483&end=1795237544.483&ascending=yes")
    assert state.ascending is True
    assert state.begin == 1795235804483000 and state.end == 1795237544483000
    assert state.limit == 300
    assert state.filters == (("event", GHOST_EVENTS), ("tags", "bulk-email"))
    query = state.query()
    assert query.filter.parts[0] == Or(tuple(Term("event", e) for e in GHOST_EVENTS.split(" OR ")))
    assert query.filter.parts[1] == Term("tags", "bulk-email")
    assert query.ascending and query.after is None


def test_microseconds_are_exact():
    assert q("begin=1763701200.123456&ascending=yes").begin == 1763701200123456
    assert q("begin=1763700000&ascending=yes").begin == 1763700000000000


def test_rfc2822_dates():
    state = q("begin=Fri,+21+Nov+2025+04:59:00+UTC&end=Fri,+21+Nov+2025+05:59:00+%2B0000")
    assert state.begin == 1763701140 * 1_000_000 and state.end == 1763704740 * 1_000_000
    assert state.ascending is True


def test_direction_rules():
    assert q("begin=200&end=100").ascending is False
    assert q("begin=200&end=100&ascending=no").ascending is False
    assert q("begin=100&end=200&ascending=yes").ascending is True
    assert q("begin=100").ascending is True  # begin only: read forward from there (open range)
    assert q("").ascending is False  # nothing: newest first
    assert q("end=100").ascending is False
    assert q("end=100&ascending=yes").ascending is True
    assert q("begin=100&ascending=no").ascending is False
    assert q("begin=100&end=100&ascending=no").ascending is False
    for bad in ("begin=200&end=100&ascending=yes", "begin=100&end=200&ascending=no"):
        with pytest.raises(BadRequest, match="ascending"):
            q(bad)


@pytest.mark.parametrize("name", ["begin", "end"])
@pytest.mark.parametrize("value", ["undefined", "null", "yesterday", "-5", "1e10", "99999999999999"])
def test_invalid_times(name, value):
    with pytest.raises(BadRequest) as info:
        q(f"{name}={value}&ascending=yes")
    assert info.value.message == f"invalid {name}"


def test_limit_default_clamp_and_errors():
    assert q("").limit == 100
    assert q("limit=undefined").limit == 100
    assert q("limit=1000").limit == 300
    assert q("limit=7").limit == 7
    for bad in ("0", "-1", "abc"):
        with pytest.raises(BadRequest, match="limit"):
            q(f"limit={bad}")


def test_same_field_twice_is_anded_and_page_ignored():
    state = q("tags=a&tags=b+OR+c&page=undefined&pretty=yes")
    assert state.filters == (("tags", "a"), ("tags", "b OR c"))
    assert state.query().filter.parts == (Term("tags", "a"), Or((Term("tags", "b"), Term("tags", "c"))))


def test_bad_filters_are_400():
    with pytest.raises(BadRequest):
        q("event=(delivered")
    with pytest.raises(BadRequest, match="not supported"):
        q("subject=hello")


# -- tokens (no HTTP) --------------------------------------------------------------------------


def test_token_round_trip_and_alphabet():
    state = replace(q("event=delivered+OR+failed&tags=%22a+b%22&begin=1763700000.123&ascending=yes&limit=50"),
                    reverse=True, cursor=(1763700001000000, 42))
    token = state.encode()
    assert TOKEN_ALPHABET.match(token) and "=" not in token
    assert PageState.decode(token, TEST_DOMAIN.upper()) == state


def test_token_rejects_junk_and_other_domains():
    token = q("ascending=yes").encode()
    with pytest.raises(BadRequest, match="another domain"):
        PageState.decode(token, OTHER_DOMAIN)
    raw = base64.urlsafe_b64decode(token + "==")
    bad_shapes = [
        "", "abc$", "not-base64!", token[:-3], "x" * 5000,
        base64.urlsafe_b64encode(b"[1,2,3]").decode().rstrip("="),
        base64.urlsafe_b64encode(raw.replace(b",100,", b",100000,")).decode().rstrip("="),
        base64.urlsafe_b64encode(raw.replace(b',[],', b',[["size",">1"]],')).decode().rstrip("="),
        base64.urlsafe_b64encode(json.dumps([1, TEST_DOMAIN, True, None, None, [], 5, 0, None]).encode()).decode(),
    ]
    for bad in bad_shapes:
        with pytest.raises(BadRequest):
            PageState.decode(bad, TEST_DOMAIN)


def test_token_too_large_is_400():
    long_filter = '"' + "x" * 990 + '"'
    state = q(urlencode({"tags": long_filter, "recipient": long_filter, "ascending": "yes"}))
    with pytest.raises(BadRequest, match="too large"):
        state.encode()


def test_reversed_bounds_cover_the_same_range():
    asc = q("begin=100&end=200")
    rev = replace(asc, reverse=True).query()
    assert (rev.ascending, rev.begin, rev.end) == (False, 200_000_000 - 1, 100_000_000 - 1)
    desc = q("begin=200&end=100")
    rev = replace(desc, reverse=True).query()
    assert (rev.ascending, rev.begin, rev.end) == (True, 100_000_000 + 1, 200_000_000 + 1)
    open_desc = replace(q(""), reverse=True).query()
    assert (open_desc.ascending, open_desc.begin, open_desc.end) == (True, None, None)


# -- HTTP --------------------------------------------------------------------------------------


async def test_ghost_exact_request_with_contract_times(api):
    query = ("event=delivered+OR+failed+OR+unsubscribed+OR+complained&tags=bulk-email"
             "&begin=1795235804.483&end=1795237544.483&ascending=yes&limit=300")
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?{query}")
    assert body["items"] == []
    assert_paging(body)
    state = PageState.decode(token_of(body["paging"]["next"]), TEST_DOMAIN)
    assert (state.begin, state.end, state.limit, state.ascending) == (1795235804483000, 1795237544483000, 300, True)
    # ...and the next page, requested the way mailgun.js does, is empty again.
    again = await api.get(page_path(body["paging"]["next"], query))
    assert again["items"] == []
    assert_paging(again)


async def test_ghost_run_filters_and_pages_to_the_end(api):
    begin = now() - 1800
    stored = await api.record(
        make_event("delivered", "a@x.com"),
        make_event("opened", "a@x.com"),  # not asked for
        make_event("failed", "b@x.com"),
        make_event("delivered", "c@x.com", tags=("ghost-email", "automation-email")),  # other tag
        make_event("unsubscribed", "d@x.com"),
        make_event("complained", "e@x.com", domain=OTHER_DOMAIN),  # other domain
        make_event("complained", "f@x.com"),
        make_event("accepted", "g@x.com"),  # not asked for
    )
    end = now() + 60
    query = (f"limit=300&event=delivered+OR+failed+OR+unsubscribed+OR+complained&tags=bulk-email"
             f"&begin={begin:.3f}&end={end:.3f}&ascending=yes")
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?{query}")
    assert_paging(body)
    assert [(i["event"], i["recipient"]) for i in body["items"]] == [
        ("delivered", "a@x.com"), ("failed", "b@x.com"), ("unsubscribed", "d@x.com"), ("complained", "f@x.com"),
    ]
    expected_ids = {e.event_id for e in stored if e.domain == TEST_DOMAIN}
    for item in body["items"]:
        assert item["id"] in expected_ids
        assert isinstance(item["timestamp"], float) and begin <= item["timestamp"] < end
        assert item["message"]["headers"]["message-id"]
        assert "bulk-email" in item["tags"]
    assert body["items"][1]["delivery-status"]["code"] == 550
    nxt = await api.get(page_path(body["paging"]["next"], query))
    assert nxt["items"] == []


async def test_paging_across_pages_resending_the_query(api):
    stored = await api.record(*[make_event("delivered", f"r{i}@x.com") for i in range(23)])
    query = f"event=delivered&tags=bulk-email&begin={now() - 600:.3f}&end={now() + 600:.3f}&ascending=yes&limit=10"
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?{query}")
    seen, sizes = [], []
    while body["items"]:
        assert_paging(body)
        sizes.append(len(body["items"]))
        seen.extend(ids(body))
        body = await api.get(page_path(body["paging"]["next"], query))
    assert sizes == [10, 10, 3]
    assert seen == [e.event_id for e in stored]  # all, once each, in order
    # The empty last page keeps its cursor: its next is empty too, for ever.
    assert_paging(body)
    for _ in range(2):
        body = await api.get(page_path(body["paging"]["next"], query))
        assert body["items"] == []


async def test_python_sdk_style_repeat_gets_the_same_page(api):
    await api.record(*[make_event("delivered") for _ in range(3)])
    first = await api.get(f"/v3/{TEST_DOMAIN}/events?ascending=yes&begin=1&limit=2")
    second = await api.get(page_path(first["paging"]["next"]))
    again = await api.get(page_path(first["paging"]["next"]))
    assert ids(second) == ids(again) and len(ids(second)) == 1


async def test_event_stored_after_reader_passed_is_on_next_page(api):
    # A reader was shown the current second, so later events go into the next one and show
    # once it has begun (the storage's clock is moved by hand here).
    clock = api.gateway.storage.clock = ManualClock(now())
    first_batch = await api.record(*[make_event("delivered") for _ in range(4)])
    query = f"begin={now() - 600:.3f}&ascending=yes&limit=3"  # open-ended ascending
    page1 = await api.get(f"/v3/{TEST_DOMAIN}/events?{query}")
    page2 = await api.get(page_path(page1["paging"]["next"], query))
    assert ids(page1) + ids(page2) == [e.event_id for e in first_batch]
    empty = await api.get(page_path(page2["paging"]["next"], query))
    assert empty["items"] == []
    late = await api.record(make_event("failed"), make_event("opened"))
    assert (await api.get(page_path(empty["paging"]["next"], query)))["items"] == []
    clock.now += 1
    page3 = await api.get(page_path(empty["paging"]["next"], query))
    assert ids(page3) == [e.event_id for e in late]
    # Also from a non-empty page whose next was handed out before the new event existed.
    later = await api.record(make_event("clicked"))
    clock.now += 1
    page4 = await api.get(page_path(page3["paging"]["next"], query))
    assert ids(page4) == [later[0].event_id]


async def test_bounded_end_in_future_sees_late_events(api):
    clock = api.gateway.storage.clock = ManualClock(now())
    query = f"begin={now() - 60:.3f}&end={now() + 3600:.3f}&ascending=yes&limit=2"
    a = await api.record(make_event("delivered"), make_event("delivered"))
    page1 = await api.get(f"/v3/{TEST_DOMAIN}/events?{query}")
    assert ids(page1) == [e.event_id for e in a]
    b = await api.record(make_event("opened"))
    clock.now += 1
    page2 = await api.get(page_path(page1["paging"]["next"], query))
    assert ids(page2) == [b[0].event_id]


async def test_token_wins_over_resent_parameters(api):
    delivered = await api.record(*[make_event("delivered") for _ in range(5)])
    await api.record(make_event("opened"))
    page1 = await api.get(f"/v3/{TEST_DOMAIN}/events?event=delivered&ascending=yes&begin=1&limit=2")
    hostile = "event=opened&begin=1&end=2&ascending=no&limit=300&page=undefined&tags=none"
    page2 = await api.get(page_path(page1["paging"]["next"], hostile))
    assert ids(page1) + ids(page2) == [e.event_id for e in delivered[:4]]
    bad_params = "begin=undefined&end=undefined&limit=abc&event=(("
    page3 = await api.get(page_path(page2["paging"]["next"], bad_params))
    assert ids(page3) == [delivered[4].event_id]


async def test_page_undefined_is_ignored(api):
    await api.record(make_event("delivered"))
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?page=undefined&ascending=yes&begin=1&limit=300")
    assert len(body["items"]) == 1
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?page=&event=delivered")
    assert len(body["items"]) == 1


async def test_descending_queries(api):
    stored = await api.record(*[make_event("delivered") for _ in range(5)])
    newest_first = [e.event_id for e in reversed(stored)]
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?limit=2")  # no range: newest first
    seen = ids(body)
    while body["items"]:
        body = await api.get(page_path(body["paging"]["next"]))
        seen.extend(ids(body))
    assert seen == newest_first
    ranged = f"begin={now() + 60:.3f}&end={now() - 600:.3f}&limit=3"
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?{ranged}")
    page2 = await api.get(page_path(body["paging"]["next"], ranged))
    assert ids(body) + ids(page2) == newest_first
    timestamps = [i["timestamp"] for i in body["items"] + page2["items"]]
    assert timestamps == sorted(timestamps, reverse=True)
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?ascending=no&limit=300")
    assert ids(body) == newest_first


async def test_end_and_ascending_disagreeing_is_400(api):
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?begin=200&end=100&ascending=yes", status=400)
    assert "ascending" in body["message"]


async def test_tag_filters_are_case_insensitive_with_and_or_not(api):
    a = (await api.record(make_event("delivered", "a@x.com", tags=("Bulk-Email", "site-a"))))[0]
    b = (await api.record(make_event("delivered", "b@x.com", tags=("bulk-email", "site-b"))))[0]
    c = (await api.record(make_event("delivered", "c@x.com", tags=("automation-email",))))[0]

    async def match(tags: str) -> list[str]:
        return ids(await api.get(f"/v3/{TEST_DOMAIN}/events?ascending=yes&begin=1&{urlencode({'tags': tags})}"))

    assert await match("BULK-EMAIL") == [a.event_id, b.event_id]
    assert await match("bulk-email AND SITE-A") == [a.event_id]
    assert await match("bulk-email site-b") == [b.event_id]
    assert await match("site-a OR automation-email") == [a.event_id, c.event_id]
    assert await match("NOT bulk-email") == [c.event_id]
    assert await match("bulk-email AND NOT site-a") == [b.event_id]
    assert await match("(site-a OR site-b) AND NOT site-b") == [a.event_id]
    both = await api.get(f"/v3/{TEST_DOMAIN}/events?ascending=yes&begin=1&tags=bulk-email&tags=site-b")
    assert ids(both) == [b.event_id]


async def test_other_filter_fields(api):
    failed = (await api.record(make_event("failed", "Bob@X.com", severity="temporary")))[0]
    delivered = (await api.record(make_event("delivered", "alice@x.com")))[0]
    base = f"/v3/{TEST_DOMAIN}/events?ascending=yes&begin=1&"
    assert ids(await api.get(base + "severity=temporary")) == [failed.event_id]
    assert ids(await api.get(base + "recipient=bob%40x.com")) == [failed.event_id]
    assert ids(await api.get(base + urlencode({"message-id": delivered.message_id}))) == [delivered.event_id]
    assert ids(await api.get(base + urlencode({"message-id": f"<{delivered.message_id}>"}))) == [delivered.event_id]
    assert ids(await api.get(base + "event=Delivered")) == [delivered.event_id]
    assert ids(await api.get(base + "reason=generic")) == [failed.event_id]
    body = await api.get(base + "size=%3E10000", status=400)
    assert "size" in body["message"]
    await api.get(base + "event=delivered+OR", status=400)


async def test_previous_first_last(api):
    stored = [e.event_id for e in await api.record(*[make_event("delivered") for _ in range(7)])]
    query = f"begin={now() - 600:.3f}&end={now() + 600:.3f}&ascending=yes&limit=3"
    page1 = await api.get(f"/v3/{TEST_DOMAIN}/events?{query}")
    page2 = await api.get(page_path(page1["paging"]["next"], query))
    page3 = await api.get(page_path(page2["paging"]["next"], query))
    assert (ids(page1), ids(page2), ids(page3)) == (stored[:3], stored[3:6], stored[6:])
    for page in (page1, page2, page3):
        assert ids(await api.get(page_path(page["paging"]["first"], query))) == stored[:3]
        assert ids(await api.get(page_path(page["paging"]["last"], query))) == stored[4:]
    assert ids(await api.get(page_path(page2["paging"]["previous"], query))) == stored[:3]
    back = await api.get(page_path(page3["paging"]["previous"], query))
    assert ids(back) == stored[3:6]
    # From a previous page, next moves forward again.
    assert ids(await api.get(page_path(back["paging"]["next"], query))) == stored[6:]
    # Before the first page there is nothing; its next leads back to the start.
    before = await api.get(page_path(page1["paging"]["previous"], query))
    assert before["items"] == []
    assert_paging(before)
    assert ids(await api.get(page_path(before["paging"]["previous"], query))) == []
    assert ids(await api.get(page_path(before["paging"]["next"], query))) == stored[:3]
    # After the end: empty, and previous from there is the last page.
    end = await api.get(page_path(page3["paging"]["next"], query))
    assert end["items"] == []
    assert ids(await api.get(page_path(end["paging"]["previous"], query))) == stored[4:]
    # The last page walked backwards with previous covers everything once.
    last = await api.get(page_path(page1["paging"]["last"], query))
    seen = ids(last)
    while last["items"]:
        last = await api.get(page_path(last["paging"]["previous"], query))
        seen = ids(last) + seen
    assert seen == stored


async def test_descending_last_and_previous(api):
    stored = [e.event_id for e in await api.record(*[make_event("delivered") for _ in range(5)])]
    query = f"begin={now() + 600:.3f}&end={now() - 600:.3f}&limit=2"
    page1 = await api.get(f"/v3/{TEST_DOMAIN}/events?{query}")
    assert ids(page1) == stored[::-1][:2]
    last = await api.get(page_path(page1["paging"]["last"], query))
    assert ids(last) == [stored[1], stored[0]]
    page2 = await api.get(page_path(page1["paging"]["next"], query))
    assert ids(await api.get(page_path(page2["paging"]["previous"], query))) == ids(page1)


async def test_empty_range_has_full_paging(api):
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?event=delivered&ascending=yes&begin=1&end=2")
    assert body["items"] == []
    assert_paging(body)
    for name in ("previous", "first", "last", "next"):
        page = await api.get(page_path(body["paging"][name]))
        assert page["items"] == []
        assert_paging(page)


async def test_paging_urls_use_public_url(gateway_factory):
    gateway = gateway_factory(gateway={"public_url": "https://mail.example.org/"})
    async with create_app(gateway).test_app() as test_app:
        response = await test_app.test_client().get(f"/v3/{TEST_DOMAIN}/events", headers=basic_auth())
        assert_paging(await response.get_json(), origin="https://mail.example.org")


async def test_invalid_begin_end_are_400(api):
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?begin=undefined&end=1795237544.483&ascending=yes", status=400)
    assert body == {"message": "invalid begin"}
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?begin=1795235804.483&end=undefined&ascending=yes", status=400)
    assert body == {"message": "invalid end"}


async def test_bad_tokens_are_400(api):
    body = await api.get(f"/v3/{TEST_DOMAIN}/events/garbage", status=400)
    assert body["message"]
    await api.get(f"/v3/{TEST_DOMAIN}/events/{'A' * 40}", status=400)
    other = await api.get(f"/v3/{OTHER_DOMAIN}/events?ascending=yes&begin=1")
    body = await api.get(page_path(other["paging"]["next"]), status=400)
    assert "domain" in body["message"]
    same = await api.get(f"/v3/{OTHER_DOMAIN}/events/{token_of(other['paging']['next'])}")
    assert_paging(same, domain=OTHER_DOMAIN)


async def test_domains_are_scoped(api):
    mine = await api.record(make_event("delivered"))
    theirs = await api.record(make_event("delivered", domain=OTHER_DOMAIN))
    assert ids(await api.get(f"/v3/{TEST_DOMAIN}/events")) == [mine[0].event_id]
    assert ids(await api.get(f"/v3/{OTHER_DOMAIN.upper()}/events")) == [theirs[0].event_id]


async def test_limit_clamped_to_300(api):
    body = await api.get(f"/v3/{TEST_DOMAIN}/events?limit=5000")
    assert PageState.decode(token_of(body["paging"]["next"]), TEST_DOMAIN).limit == 300
    body = await api.get(f"/v3/{TEST_DOMAIN}/events")
    assert PageState.decode(token_of(body["paging"]["next"]), TEST_DOMAIN).limit == 100


async def test_unauthenticated_is_401(api):
    response = await api.client.get(f"/v3/{TEST_DOMAIN}/events")
    assert response.status_code == 401
