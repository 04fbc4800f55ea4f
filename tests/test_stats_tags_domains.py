"""Stats (§5), tags (§6) and domains (§8) of the Mailgun API."""

from __future__ import annotations

import calendar
import email.utils
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio

from postgate.app import Gateway
from postgate.domain import Event
from postgate.errors import BadRequest
from postgate.mailgun.stats_api import bucket_starts, time_range
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY, basic_auth
from postgate.web import create_app

OTHER_DOMAIN = "other.example.com"
THIRD_DOMAIN = "third.example.com"
THIRD_KEY = "key-third"


def make_event(kind: str, tags: tuple[str, ...] = ("bulk-email",), domain: str = TEST_DOMAIN,
               severity: str | None = None, reason: str | None = None) -> Event:
    payload: dict[str, Any] = {"recipient": "a@x.com", "tags": list(tags), "message": {"headers": {"message-id": "m@x"}}}
    if kind == "failed":
        payload.update(severity=severity, reason=reason, **{"delivery-status": {"code": 550, "message": ""}})
    return Event(domain=domain, event=kind, recipient="a@x.com", message_id="m@x", payload=payload,
                 tags=list(tags), severity=severity)


@dataclass
class Api:
    gateway: Gateway
    client: Any

    async def call(self, method: str, path: str, status: int = 200, key: str = TEST_KEY, **kwargs: Any) -> Any:
        response = await self.client.open(path, method=method, headers=basic_auth(key), **kwargs)
        body = await response.get_json()
        assert response.status_code == status, body
        return body

    async def get(self, path: str, status: int = 200, key: str = TEST_KEY) -> Any:
        return await self.call("GET", path, status, key)


@pytest_asyncio.fixture
async def api(gateway_factory):
    gateway = gateway_factory(domains={OTHER_DOMAIN: {"api_key": TEST_KEY}, THIRD_DOMAIN: {"api_key": THIRD_KEY}})
    async with create_app(gateway).test_app() as test_app:
        yield Api(gateway, test_app.test_client())


def rfc(value: str) -> float:
    return float(email.utils.mktime_tz(email.utils.parsedate_tz(value.replace("UTC", "GMT"))))


def today() -> float:
    t = time.gmtime()
    return float(calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0)))


# -- stats ---------------------------------------------------------------------------------------


async def record_mix(api: Api) -> None:
    await api.gateway.record_events([
        make_event("accepted"), make_event("accepted"), make_event("accepted", tags=("other",)),
        make_event("delivered"), make_event("delivered"),
        make_event("failed", severity="permanent", reason="bounce"),
        make_event("failed", severity="permanent", reason="suppress-bounce"),
        make_event("failed", severity="permanent", reason="suppress-complaint"),
        make_event("failed", severity="permanent", reason="generic"),
        make_event("failed", severity="temporary", reason="espblock"),
        make_event("failed", severity="temporary", reason="generic"),
        make_event("failed", tags=("other",)),  # no severity: counted as temporary
        make_event("opened"), make_event("clicked"), make_event("complained"),
        make_event("delivered", domain=OTHER_DOMAIN),
    ])


async def test_stats_total_mailgun_js_request(api):
    await record_mix(api)
    body = await api.get(f"/v3/{TEST_DOMAIN}/stats/total?event=accepted&event=delivered&duration=7d&resolution=day")
    assert list(body) == ["start", "end", "resolution", "stats"]
    assert body["resolution"] == "day"
    assert rfc(body["start"]) == today() - 7 * 86400 and rfc(body["end"]) == today()
    assert body["start"].endswith(" 00:00:00 UTC")
    assert len(body["stats"]) == 8
    assert [rfc(item["time"]) for item in body["stats"]] == [today() - d * 86400 for d in range(7, -1, -1)]
    last = body["stats"][-1]
    assert last == {
        "time": body["end"],
        "accepted": {"outgoing": 3, "incoming": 0, "total": 3},
        "delivered": {"smtp": 2, "http": 0, "total": 2},
    }
    assert body["stats"][0]["accepted"]["total"] == 0


async def test_stats_total_every_event_type(api):
    await record_mix(api)
    query = "&".join(f"event={e}" for e in ("failed", "opened", "clicked", "unsubscribed", "complained", "stored"))
    body = await api.get(f"/v3/{TEST_DOMAIN}/stats/total?{query}&duration=1d&resolution=hour")
    assert body["resolution"] == "hour"
    assert len(body["stats"]) == 25
    last = body["stats"][-1]
    assert last["failed"] == {
        "permanent": {"bounce": 1, "delayed-bounce": 0, "suppress-bounce": 1, "suppress-unsubscribe": 0,
                      "suppress-complaint": 1, "total": 4},
        "temporary": {"espblock": 1, "total": 3},
    }
    assert last["opened"] == {"total": 1} and last["clicked"] == {"total": 1}
    assert last["unsubscribed"] == {"total": 0} and last["complained"] == {"total": 1}
    assert last["stored"] == {"total": 0}
    assert list(last) == ["time", "failed", "opened", "clicked", "unsubscribed", "complained", "stored"]


async def test_stats_python_sdk_request_and_month_resolution(api):
    await record_mix(api)
    body = await api.get(f"/v3/{TEST_DOMAIN}/stats/total?event=accepted&event=delivered&duration=1m")
    assert body["resolution"] == "day" and len(body["stats"]) == 31
    month = await api.get(f"/v3/{TEST_DOMAIN}/stats/total?event=delivered&resolution=month&duration=2m")
    assert month["resolution"] == "month"
    assert all(" 00:00:00 UTC" in item["time"] and time.gmtime(rfc(item["time"])).tm_mday == 1
               for item in month["stats"])
    assert month["stats"][-1]["delivered"]["total"] == 2


async def test_stats_start_and_end(api):
    await record_mix(api)
    start = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - 3 * 86400))
    end = time.time() + 60
    body = await api.get(f"/v3/{TEST_DOMAIN}/stats/total?event=delivered&start={start}&end={end}")
    assert len(body["stats"]) in (4, 5)
    assert sum(item["delivered"]["total"] for item in body["stats"]) == 2
    past = await api.get(f"/v3/{TEST_DOMAIN}/stats/total?event=delivered&start=1000000&end=1086400")
    assert [item["delivered"]["total"] for item in past["stats"]] == [0, 0]


async def test_account_stats_sum_allowed_domains(api):
    await record_mix(api)
    body = await api.get("/v3/stats/total?event=delivered&duration=1d")
    assert body["stats"][-1]["delivered"]["total"] == 3
    body = await api.get("/v3/stats/total?event=delivered&duration=1d", key=THIRD_KEY)
    assert body["stats"][-1]["delivered"]["total"] == 0


@pytest.mark.parametrize("query, word", [
    ("duration=7d", "event"),
    ("event=undefined", "event"),
    ("event=bogus", "event"),
    ("event=delivered&resolution=week", "resolution"),
    ("event=delivered&duration=7w", "duration"),
    ("event=delivered&start=yesterday", "start"),
    ("event=delivered&start=2000&end=1000", "start"),
    ("event=delivered&resolution=hour&duration=3650d", "too long"),
])
async def test_stats_bad_requests(api, query, word):
    body = await api.get(f"/v3/{TEST_DOMAIN}/stats/total?{query}", status=400)
    assert word in body["message"]


def test_time_range_and_buckets():
    assert time_range(None, None, None, 1_000_000.0) == (1_000_000.0 - 7 * 86400, 1_000_000.0)
    assert time_range("10", "100", None, 5.0) == (10.0, 100.0)
    assert time_range("10", "86500", "1d", 5.0) == (100.0, 86500.0)
    assert bucket_starts(3599, 3601, "hour") == [0.0, 3600.0]
    jan31 = calendar.timegm((2025, 1, 31, 12, 0, 0))
    mar1 = calendar.timegm((2025, 3, 1, 0, 0, 0))
    assert bucket_starts(jan31, mar1, "month") == [
        calendar.timegm((2025, m, 1, 0, 0, 0)) for m in (1, 2, 3)
    ]
    with pytest.raises(BadRequest):
        time_range("100", "10", None, 5.0)


# -- tags ----------------------------------------------------------------------------------------


def tags_path(url: str) -> str:
    """What mailgun.js sends for a query-style paging link: ``?<query>`` joined to the list URL,
    with the caller's options (``limit``) appended again."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}&limit=2"


async def test_tags_list_pages_with_query_pivot(api):
    names = ["alpha", "bravo", "charlie", "delta", "echo"]
    await api.gateway.storage.touch_tags(TEST_DOMAIN, names, 1763700000.0)
    await api.gateway.storage.touch_tags(OTHER_DOMAIN, ["zulu"], 1763700000.0)
    body = await api.get(f"/v3/{TEST_DOMAIN}/tags?limit=2")
    assert body["items"][0] == {"tag": "alpha", "description": "", "first-seen": "2025-11-21T04:40:00Z",
                                "last-seen": "2025-11-21T04:40:00Z"}
    seen = []
    while body["items"]:
        paging = body["paging"]
        assert list(paging) == ["previous", "first", "last", "next"]
        for url in paging.values():
            assert url.startswith("http://localhost/v3/mg.example.com/tags?") and url.count("?") == 1
        assert parse_qs(urlsplit(paging["next"]).query)["page"] == ["next"]
        seen.extend(item["tag"] for item in body["items"])
        body = await api.get(tags_path(paging["next"]))
    assert seen == names
    assert parse_qs(urlsplit(body["paging"]["next"]).query)["tag"] == ["echo"]
    last = await api.get(tags_path(body["paging"]["last"]))
    assert [i["tag"] for i in last["items"]] == ["delta", "echo"]
    prev = await api.get(tags_path(last["paging"]["previous"]))
    assert [i["tag"] for i in prev["items"]] == ["bravo", "charlie"]
    first = await api.get(tags_path(prev["paging"]["first"]))
    assert [i["tag"] for i in first["items"]] == ["alpha", "bravo"]


async def test_tag_get_update_delete(api):
    await api.gateway.storage.touch_tags(TEST_DOMAIN, ["ghost email"], 1763700000.0)
    base = f"/v3/{TEST_DOMAIN}/tags/ghost%20email"
    assert (await api.get(base))["tag"] == "ghost email"
    assert await api.call("PUT", base, form={"description": "Newsletters"}) == {"message": "Tag updated"}
    assert (await api.get(base))["description"] == "Newsletters"
    await api.call("PUT", base, status=400)
    assert await api.call("DELETE", base) == {"message": "Tag deleted"}
    assert (await api.get(base, status=404)) == {"message": "Tag not found"}
    await api.call("DELETE", base, status=404)
    await api.call("PUT", base, status=404, form={"description": "x"})


async def test_tag_stats(api):
    await api.gateway.storage.touch_tags(TEST_DOMAIN, ["bulk-email"], time.time())
    await record_mix(api)
    body = await api.get(f"/v3/{TEST_DOMAIN}/tags/bulk-email/stats?event=accepted&event=failed&duration=1d")
    assert body["tag"] == "bulk-email" and body["description"] == ""
    assert {"start", "end", "resolution", "stats"} <= set(body)
    last = body["stats"][-1]
    assert last["accepted"]["total"] == 2
    assert last["failed"]["temporary"]["total"] == 2
    await api.get(f"/v3/{TEST_DOMAIN}/tags/missing/stats?event=accepted", status=404)
    countries = await api.get(f"/v3/{TEST_DOMAIN}/tags/bulk-email/stats/aggregates/countries")
    assert countries == {"tag": "bulk-email", "country": {}}


# -- domains -------------------------------------------------------------------------------------

DOMAIN_FIELDS = ["id", "name", "state", "type", "created_at", "smtp_login", "spam_action", "require_tls",
                 "skip_verification", "wildcard", "web_prefix", "web_scheme", "is_disabled"]


@pytest.mark.parametrize("path", ["/v3/domains?limit=10&skip=0", "/v4/domains"])
async def test_domains_list_only_allowed(api, path):
    body = await api.get(path)
    assert body["total_count"] == 2
    assert [item["name"] for item in body["items"]] == [TEST_DOMAIN, OTHER_DOMAIN]
    for item in body["items"]:
        assert list(item) == DOMAIN_FIELDS
        assert item["state"] == "active" and item["is_disabled"] is False
        assert rfc(item["created_at"]) == 0
    third = await api.get(path, key=THIRD_KEY)
    assert [item["name"] for item in third["items"]] == [THIRD_DOMAIN]


async def test_domains_list_skip_and_limit(api):
    body = await api.get("/v3/domains?limit=1&skip=1")
    assert body["total_count"] == 2 and len(body["items"]) == 1
    await api.get("/v3/domains?limit=-1", status=400)


@pytest.mark.parametrize("version", ["v3", "v4"])
async def test_domain_get(api, version):
    body = await api.get(f"/{version}/domains/{TEST_DOMAIN.upper()}")
    assert list(body) == ["domain", "receiving_dns_records", "sending_dns_records"]
    assert body["domain"]["name"] == TEST_DOMAIN and list(body["domain"]) == DOMAIN_FIELDS
    assert (await api.get(f"/{version}/domains/nowhere.example.com", status=404))["message"].startswith("Domain not found")
    response = await api.client.get(f"/{version}/domains/{THIRD_DOMAIN}", headers=basic_auth())
    assert response.status_code == 401


async def test_domain_tracking_is_off(api):
    body = await api.get(f"/v3/domains/{TEST_DOMAIN}/tracking")
    assert body == {"tracking": {
        "open": {"active": False, "place_at_the_top": False},
        "click": {"active": False},
        "unsubscribe": {"active": False, "html_footer": "", "text_footer": ""},
    }}


async def test_stats_month_resolution_up_to_the_last_representable_month(api):
    """A range ending in December 9999 counts up to the end of that month; nothing past year 9999 is
    ever built (it was a 500)."""
    body = await api.get(f"/v3/{TEST_DOMAIN}/stats/total?event=delivered&resolution=month"
                         "&start=Mon,%2001%20Nov%209999%2000:00:00%20UTC&end=Fri,%2031%20Dec%209999%2023:00:00%20UTC")
    assert [item["time"] for item in body["stats"]] == [
        "Mon, 01 Nov 9999 00:00:00 UTC", "Wed, 01 Dec 9999 00:00:00 UTC"]
    assert all(item["delivered"]["total"] == 0 for item in body["stats"])
