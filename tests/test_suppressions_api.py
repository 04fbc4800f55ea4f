"""The Mailgun suppression API: ``/v3/<domain>/{bounces,complaints,unsubscribes,whitelists}`` (§4)."""

from __future__ import annotations

import email.utils
import io
from urllib.parse import parse_qsl, urlsplit

import pytest
from quart.datastructures import FileStorage

from postgate.domain import Suppression
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate.web import create_app

OTHER = "other.example.com"
AUTH = basic_auth()
OTHER_AUTH = basic_auth("key-other")
ROOT = f"/v3/{TEST_DOMAIN}"


@pytest.fixture
async def gateway(gateway_factory):
    gw = gateway_factory(domains={OTHER: {"api_key": "key-other"}})
    app = create_app(gw, background=False)
    async with app.test_app() as test_app:
        gw.client = test_app.test_client()
        yield gw


@pytest.fixture
def client(gateway):
    return gateway.client


async def call(client, method, path, *, auth=AUTH, **kwargs):
    response = await getattr(client, method)(path, headers=auth, **kwargs)
    return response.status_code, await response.get_json()


async def stored(gateway, list_name, domain=TEST_DOMAIN):
    return await gateway.storage.list_suppressions(domain, list_name, limit=1000)


def multipart(fields):
    """A multipart/form-data body with only text fields, as mailgun.js sends through form-data."""
    boundary = "--------------------------postgate0123456789"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             for name, value in fields]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return {"data": body, "headers": {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}}


async def post_multipart(client, path, fields):
    response = await client.post(path, **multipart(fields))
    return response.status_code, await response.get_json()


def is_rfc2822(text):
    return text.endswith(" UTC") and email.utils.parsedate_tz(text.replace("UTC", "GMT")) is not None


# -- create -----------------------------------------------------------------------------------


async def test_mailgun_js_array_create_and_get_with_plus_address(client):
    body = [{"address": "alice+x@example.com", "code": 550, "error": "No such mailbox"},
            {"address": "bob@example.com"}]
    assert await call(client, "post", f"{ROOT}/bounces", json=body) == (
        200, {"message": "2 addresses have been added to the bounces table"})
    status, item = await call(client, "get", f"{ROOT}/bounces/alice%2Bx%40example.com")
    assert status == 200
    assert set(item) == {"address", "code", "error", "created_at"}
    assert item["address"] == "alice+x@example.com"
    assert item["code"] == "550" and item["error"] == "No such mailbox"
    assert is_rfc2822(item["created_at"])
    status, item = await call(client, "get", f"{ROOT}/bounces/bob%40example.com")
    assert (item["code"], item["error"]) == ("550", "")


async def test_python_sdk_urlencoded_create(client, gateway):
    status, body = await call(client, "post", f"{ROOT}/bounces",
                              form={"address": "a@b.c", "code": "421", "error": "Test error"})
    assert (status, body) == (200, {"message": "Address has been added to the bounces table", "address": "a@b.c"})
    [entry] = await stored(gateway, "bounces")
    assert (entry.address, entry.code, entry.error) == ("a@b.c", 421, "Test error")


async def test_python_sdk_single_json_object_create(client, gateway):
    status, body = await call(client, "post", f"{ROOT}/bounces", json={"address": "a@b.c", "code": "551"})
    assert (status, body) == (200, {"message": "1 addresses have been added to the bounces table"})
    [entry] = await stored(gateway, "bounces")
    assert entry.code == 551


async def test_create_replaces_and_keeps_created_at(client, gateway):
    await call(client, "post", f"{ROOT}/bounces", json=[{"address": "a@b.c", "error": "first"}])
    await call(client, "post", f"{ROOT}/bounces",
               json=[{"address": "A@B.C", "error": "second", "created_at": "Thu, 13 Oct 2011 18:02:00 UTC"}])
    [entry] = await stored(gateway, "bounces")
    assert entry.error == "second"
    status, item = await call(client, "get", f"{ROOT}/bounces/a%40b.c")
    assert item["created_at"] == "Thu, 13 Oct 2011 18:02:00 UTC"


async def test_multipart_unsubscribe_create(client):
    status, body = await post_multipart(client, f"{ROOT}/unsubscribes",
                                        [("address", "u@x.com"), ("tag", "newsletter")])
    assert (status, body) == (200, {"message": "Address has been added to the unsubscribes table",
                                    "address": "u@x.com"})
    status, item = await call(client, "get", f"{ROOT}/unsubscribes/u%40x.com")
    assert status == 200
    assert set(item) == {"address", "tags", "created_at"}
    assert item["tags"] == ["newsletter"]


async def test_unsubscribe_defaults_to_every_tag_and_json_array_takes_tags(client):
    await call(client, "post", f"{ROOT}/unsubscribes", form={"address": "all@x.com"})
    status, body = await call(client, "post", f"{ROOT}/unsubscribes",
                              json=[{"address": "some@x.com", "tags": ["x", "y"]}])
    assert body == {"message": "1 addresses have been added to the unsubscribes table"}
    assert (await call(client, "get", f"{ROOT}/unsubscribes/all%40x.com"))[1]["tags"] == ["*"]
    assert (await call(client, "get", f"{ROOT}/unsubscribes/some%40x.com"))[1]["tags"] == ["x", "y"]


async def test_complaints_create_texts_and_shape(client):
    assert await call(client, "post", f"{ROOT}/complaints", json=[{"address": "c@x.com"}, {"address": "d@x.com"}]) == (
        200, {"message": "2 complaint addresses have been added to the complaints table"})
    assert await call(client, "post", f"{ROOT}/complaints", form={"address": "e@x.com"}) == (
        200, {"message": "Address has been added to the complaints table", "address": "e@x.com"})
    status, item = await call(client, "get", f"{ROOT}/complaints/c%40x.com")
    assert set(item) == {"address", "created_at"}


async def test_whitelist_create_address_and_domain(client):
    status, body = await post_multipart(client, f"{ROOT}/whitelists", [("address", "w@x.com"), ("reason", "qa")])
    assert (status, body) == (200, {"message": "Address/Domain has been added to the whitelists table",
                                    "type": "address", "value": "w@x.com"})
    status, body = await post_multipart(client, f"{ROOT}/whitelists", [("domain", "trusted.com")])
    assert body == {"message": "Address/Domain has been added to the whitelists table",
                    "type": "domain", "value": "trusted.com"}
    status, item = await call(client, "get", f"{ROOT}/whitelists/w%40x.com")
    assert set(item) == {"value", "reason", "type", "createdAt"}
    assert (item["value"], item["reason"], item["type"]) == ("w@x.com", "qa", "address")
    assert is_rfc2822(item["createdAt"])
    status, item = await call(client, "get", f"{ROOT}/whitelists/trusted.com")
    assert item["type"] == "domain"


@pytest.mark.parametrize(
    ("list_name", "kwargs", "fragment"),
    [
        ("bounces", {"json": [{"address": "ok@x.com"}, {"address": "not-an-address"}]}, "record 2"),
        ("bounces", {"json": [{"address": "ok@x.com"}, {"code": 550}]}, "'address' parameter is missing"),
        ("bounces", {"json": [{"address": "ok@x.com", "code": "abc"}]}, "'code'"),
        ("bounces", {"json": [{"address": "ok@x.com", "created_at": "yesterday"}]}, "'created_at'"),
        ("bounces", {"json": [{"address": f"a{i}@x.com"} for i in range(1001)]}, "at most 1000"),
        ("bounces", {"json": []}, "no records"),
        ("bounces", {"json": "a@x.com"}, "JSON"),
        ("bounces", {"data": b"[{", "headers": {"Content-Type": "application/json"}}, "JSON"),
        ("bounces", {"form": {"code": "550"}}, "'address' parameter is missing"),
        ("complaints", {"form": {"address": "a @x.com"}}, "not a valid email address"),
        ("unsubscribes", {"json": [{"address": "u@x.com", "tags": [1]}]}, "tags"),
        ("whitelists", {"form": {"address": "a@x.com", "domain": "x.com"}}, "not both"),
        ("whitelists", {"form": {"domain": "bad domain"}}, "'domain'"),
        ("whitelists", {"form": {}}, "missing"),
    ],
)
async def test_bad_input_is_400_and_stores_nothing(gateway, client, list_name, kwargs, fragment):
    headers = {**AUTH, **kwargs.pop("headers", {})}
    response = await client.post(f"{ROOT}/{list_name}", headers=headers, **kwargs)
    body = await response.get_json()
    assert response.status_code == 400
    assert fragment in body["message"]
    assert await stored(gateway, list_name) == []


# -- get and delete ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("list_name", "text"),
    [
        ("bounces", "Address not found in bounces table"),
        ("unsubscribes", "Address not found in unsubscribers table"),
        ("complaints", "No spam complaints found for this address"),
        ("whitelists", "Address/Domain not found in whitelists table"),
    ],
)
async def test_get_and_delete_of_unknown_address_is_404(client, list_name, text):
    assert await call(client, "get", f"{ROOT}/{list_name}/nobody%40x.com") == (404, {"message": text})
    assert await call(client, "delete", f"{ROOT}/{list_name}/nobody%40x.com") == (404, {"message": text})


async def test_address_named_import_and_account_level_paths(client):
    assert await call(client, "get", f"{ROOT}/bounces/import") == (
        404, {"message": "Address not found in bounces table"})
    assert (await call(client, "get", "/v3/stats/bounces"))[0] == 404


async def test_lookups_ignore_case(client):
    await call(client, "post", f"{ROOT}/bounces", json=[{"address": "Alice@Example.com"}])
    status, item = await call(client, "get", f"{ROOT}/bounces/ALICE%40example.COM")
    assert (status, item["address"]) == (200, "Alice@Example.com")
    assert (await call(client, "delete", f"{ROOT}/bounces/alice%40example.com"))[0] == 200


@pytest.mark.parametrize(
    ("list_name", "body"),
    [
        ("bounces", {"message": "Bounced address has been removed", "address": "alice+x@example.com"}),
        ("unsubscribes", {"message": "Unsubscribe event has been removed", "address": "alice+x@example.com"}),
        ("complaints", {"message": "Spam complaint has been removed", "address": "alice+x@example.com"}),
        ("whitelists", {"message": "Whitelist address/domain has been removed", "value": "alice+x@example.com"}),
    ],
)
async def test_delete_one(gateway, client, list_name, body):
    await call(client, "post", f"{ROOT}/{list_name}", form={"address": "alice+x@example.com"})
    await call(client, "post", f"{ROOT}/{list_name}", form={"address": "keep@example.com"})
    # mailgun.js 14 sends an empty urlencoded body on DELETE; 10.4 sends none.
    response = await client.delete(f"{ROOT}/{list_name}/alice%2Bx%40example.com",
                                   headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"})
    assert (response.status_code, await response.get_json()) == (200, body)
    assert [e.address for e in await stored(gateway, list_name)] == ["keep@example.com"]


async def test_delete_unsubscribe_tag_removes_only_that_tag(gateway, client):
    await call(client, "post", f"{ROOT}/unsubscribes", json=[{"address": "u@x.com", "tags": ["a", "b"]}])
    status, body = await call(client, "delete", f"{ROOT}/unsubscribes/u%40x.com?tag=A")
    assert (status, body) == (200, {"message": "Unsubscribe event has been removed", "address": "u@x.com"})
    assert (await call(client, "get", f"{ROOT}/unsubscribes/u%40x.com"))[1]["tags"] == ["b"]
    assert (await call(client, "delete", f"{ROOT}/unsubscribes/u%40x.com?tag=a"))[0] == 404
    assert (await call(client, "delete", f"{ROOT}/unsubscribes/u%40x.com?tag=b"))[0] == 200
    assert await stored(gateway, "unsubscribes") == []


@pytest.mark.parametrize(
    ("list_name", "text"),
    [
        ("bounces", "Bounced addresses for this domain have been removed"),
        ("unsubscribes", "Unsubscribe addresses for this domain have been removed"),
        ("complaints", "Spam complaint addresses for this domain have been removed"),
        ("whitelists", "Whitelist addresses/domains for this domain have been removed"),
    ],
)
async def test_clear_all(gateway, client, list_name, text):
    await call(client, "post", f"{ROOT}/{list_name}", form={"address": "a@x.com"})
    await call(client, "post", f"/v3/{OTHER}/{list_name}", form={"address": "a@x.com"}, auth=OTHER_AUTH)
    assert await call(client, "delete", f"{ROOT}/{list_name}") == (200, {"message": text})
    assert await stored(gateway, list_name) == []
    assert len(await stored(gateway, list_name, OTHER)) == 1


# -- CSV import -------------------------------------------------------------------------------


async def upload(client, list_name, text):
    files = {"file": FileStorage(io.BytesIO(text.encode()), filename="list.csv", content_type="text/csv")}
    return await call(client, "post", f"{ROOT}/{list_name}/import", files=files)


async def test_import_bounces(gateway, client):
    text = ("address,code,error,created_at\n"
            "foo@example.com,,,\n"
            'bar@example.org,421,Mailbox full,"Thu, 13 Oct 2011 18:02:00 GMT"\n')
    assert await upload(client, "bounces", text) == (200, {"message": "file uploaded successfully"})
    entries = {e.address: e for e in await stored(gateway, "bounces")}
    assert entries["foo@example.com"].code == 550
    assert (entries["bar@example.org"].code, entries["bar@example.org"].error) == (421, "Mailbox full")


async def test_import_unsubscribes_complaints_and_whitelists(gateway, client):
    assert (await upload(client, "unsubscribes", "address,tags,created_at\nfoo@x.com,,\nbar@x.com,news,\n"))[0] == 200
    tags = {e.address: e.tags for e in await stored(gateway, "unsubscribes")}
    assert tags == {"foo@x.com": ["*"], "bar@x.com": ["news"]}
    text = 'address,created_at\nadc@gmail.com,"Thu, 13 Oct 2011 18:02:00 GMT"\n'
    assert (await upload(client, "complaints", text))[0] == 200
    assert [e.address for e in await stored(gateway, "complaints")] == ["adc@gmail.com"]
    # The Python SDK's sample file: spaces after commas, both columns on one row.
    text = 'address, domain\nadc@gmail.com, "2048.zeefarmer.com",\n,solo.example\n'
    assert (await upload(client, "whitelists", text))[0] == 200
    kinds = {e.address: e.kind for e in await stored(gateway, "whitelists")}
    assert kinds == {"adc@gmail.com": "address", "2048.zeefarmer.com": "domain", "solo.example": "domain"}


async def test_import_with_a_bad_row_stores_nothing(gateway, client):
    status, body = await upload(client, "bounces", "address,code\nok@x.com,550\nbroken,550\n")
    assert status == 400 and "CSV line 3" in body["message"]
    assert await stored(gateway, "bounces") == []
    status, body = await upload(client, "bounces", "email\nok@x.com\n")
    assert status == 400 and "header" in body["message"]
    status, body = await call(client, "post", f"{ROOT}/bounces/import", form={"x": "y"})
    assert status == 400 and "'file'" in body["message"]


# -- list and paging --------------------------------------------------------------------------


def relative(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def seed(gateway, count, domain=TEST_DOMAIN):
    await gateway.storage.add_suppressions(
        [Suppression(domain, "bounces", f"user{i:02d}@example.com", code=550) for i in range(count)])


async def test_list_shape_and_paging_urls(gateway, client):
    await seed(gateway, 3)
    status, body = await call(client, "get", f"{ROOT}/bounces?limit=2")
    assert status == 200
    assert [i["address"] for i in body["items"]] == ["user00@example.com", "user01@example.com"]
    assert body["items"][0]["code"] == "550"
    paging = body["paging"]
    assert set(paging) == {"first", "last", "next", "previous"}
    for url in paging.values():
        assert url.startswith("http") and url.count("?") == 1
    assert paging["first"].endswith(f"{ROOT}/bounces?limit=2")
    assert paging["last"].endswith(f"{ROOT}/bounces?page=last&limit=2")
    assert paging["next"].endswith(f"{ROOT}/bounces?page=next&address=user01%40example.com&limit=2")
    assert paging["previous"] == paging["first"]


async def test_paging_to_the_end_like_mailgun_js(gateway, client):
    await seed(gateway, 5)
    seen, url, pages = [], f"{ROOT}/bounces?limit=2", 0
    while True:
        status, body = await call(client, "get", url)
        assert status == 200
        pages += 1
        seen += [i["address"] for i in body["items"]]
        paging = body["paging"]
        if paging["next"] == paging["last"]:
            break
        # mailgun.js re-sends the caller's options after the page's own query: keys repeat.
        url = relative(paging["next"]) + "&limit=2"
        assert pages < 10
    assert seen == [f"user{i:02d}@example.com" for i in range(5)]
    assert pages == 3
    # Following `next` past the end gives an empty page that still says it is the end.
    status, body = await call(client, "get", relative(paging["next"]))
    assert body["items"] == [] and body["paging"]["next"] == body["paging"]["last"]


async def test_duplicate_query_keys_are_tolerated(gateway, client):
    await seed(gateway, 3)
    status, body = await call(client, "get", f"{ROOT}/bounces?page=next&address=user00%40example.com&limit=100&limit=100")
    assert status == 200
    assert [i["address"] for i in body["items"]] == ["user01@example.com", "user02@example.com"]


async def test_previous_and_last_pages(gateway, client):
    await seed(gateway, 5)
    status, body = await call(client, "get", f"{ROOT}/bounces?page=last&limit=2")
    assert [i["address"] for i in body["items"]] == ["user03@example.com", "user04@example.com"]
    assert body["paging"]["next"] == body["paging"]["last"]
    status, body = await call(client, "get", relative(body["paging"]["previous"]))
    assert [i["address"] for i in body["items"]] == ["user01@example.com", "user02@example.com"]
    status, body = await call(client, "get", relative(body["paging"]["previous"]))
    assert [i["address"] for i in body["items"]] == ["user00@example.com"]
    assert body["paging"]["previous"] == body["paging"]["first"]


async def test_whole_list_on_one_page_ends_at_once(gateway, client):
    await seed(gateway, 2)
    status, body = await call(client, "get", f"{ROOT}/bounces")
    assert len(body["items"]) == 2
    assert body["paging"]["next"] == body["paging"]["last"]
    status, body = await call(client, "get", relative(body["paging"]["next"]))
    assert body["items"] == []
    status, body = await call(client, "get", f"{ROOT}/complaints")
    assert body["items"] == [] and body["paging"]["next"] == body["paging"]["last"]


async def test_term_prefix_and_limit_rules(gateway, client):
    await seed(gateway, 12)
    status, body = await call(client, "get", f"{ROOT}/bounces?term=USER1")
    assert [i["address"] for i in body["items"]] == ["user10@example.com", "user11@example.com"]
    assert "term=USER1" in body["paging"]["first"]
    status, body = await call(client, "get", f"{ROOT}/bounces?limit=5000")
    assert status == 200 and body["paging"]["first"].endswith("limit=1000")
    for bad in ("0", "-1", "ten"):
        status, body = await call(client, "get", f"{ROOT}/bounces?limit={bad}")
        assert status == 400 and "'limit'" in body["message"]
    status, body = await call(client, "get", f"{ROOT}/bounces?page=sideways")
    assert status == 400 and "'page'" in body["message"]
    # mailgun.js 10.4 may send literal "undefined" values.
    assert (await call(client, "get", f"{ROOT}/bounces?page=undefined&limit=100"))[0] == 200


async def test_unsubscribes_and_whitelists_list_items(client):
    await call(client, "post", f"{ROOT}/unsubscribes", json=[{"address": "u@x.com", "tags": ["t"]}])
    await call(client, "post", f"{ROOT}/whitelists", form={"domain": "x.com"})
    assert (await call(client, "get", f"{ROOT}/unsubscribes"))[1]["items"][0]["tags"] == ["t"]
    [item] = (await call(client, "get", f"{ROOT}/whitelists"))[1]["items"]
    assert (item["value"], item["type"]) == ("x.com", "domain")


# -- domains ----------------------------------------------------------------------------------


async def test_lists_are_scoped_per_domain(gateway, client):
    await call(client, "post", f"{ROOT}/bounces", json=[{"address": "a@x.com"}])
    assert (await call(client, "get", f"/v3/{OTHER}/bounces/a%40x.com", auth=OTHER_AUTH))[0] == 404
    assert (await call(client, "get", f"/v3/{OTHER}/bounces", auth=OTHER_AUTH))[1]["items"] == []
    assert (await call(client, "delete", f"/v3/{OTHER}/bounces/a%40x.com", auth=OTHER_AUTH))[0] == 404
    assert (await call(client, "get", f"{ROOT}/bounces/a%40x.com"))[0] == 200
    # One domain's key cannot read the other's lists.
    response = await client.get(f"/v3/{OTHER}/bounces", headers=AUTH)
    assert response.status_code == 401


async def test_paging_urls_carry_the_domain_lower_case(gateway, client):
    await seed(gateway, 1)
    status, body = await call(client, "get", "/v3/MG.Example.com/bounces")
    assert status == 200 and len(body["items"]) == 1
    assert f"/v3/{TEST_DOMAIN}/bounces?" in body["paging"]["first"]
    pairs = parse_qsl(urlsplit(body["paging"]["next"]).query)
    assert ("page", "next") in pairs


# -- the Python SDK over real HTTP ------------------------------------------------------------


def test_python_sdk_end_to_end(live_server):
    from mailgun.client import Client

    server = live_server(background=False)
    with Client(auth=("api", "key-test"), api_url=server.url) as sdk:
        response = sdk.bounces.create(data={"address": "alice+x@example.com", "code": 550, "error": "Test error"},
                                      domain=TEST_DOMAIN)
        assert response.json() == {"message": "Address has been added to the bounces table",
                                   "address": "alice+x@example.com"}
        response = sdk.bounces.create(data={"address": "bob@example.com", "code": "551"}, domain=TEST_DOMAIN,
                                      headers={"Content-Type": "application/json"})
        assert response.json() == {"message": "1 addresses have been added to the bounces table"}
        for index in range(5):
            sdk.bounces.create(data={"address": f"user{index}@example.com"}, domain=TEST_DOMAIN)
        response = sdk.bounces.get(domain=TEST_DOMAIN, bounce_address="alice+x@example.com")
        assert response.status_code == 200 and response.json()["code"] == "550"
        # stream() follows `next` until an empty page: every address exactly once.
        addresses = [item["address"] for item in sdk.bounces.stream(filters={"limit": 2}, domain=TEST_DOMAIN)]
        assert addresses == sorted(addresses) and len(addresses) == len(set(addresses)) == 7
        response = sdk.bounces_import.create(domain=TEST_DOMAIN,
                                             files={"file": b"address,code,error,created_at\nnew@example.net,,,\n"})
        assert response.json() == {"message": "file uploaded successfully"}
        response = sdk.unsubscribes.create(data={"address": "u@example.com", "tag": "news"}, domain=TEST_DOMAIN)
        assert response.status_code == 200
        response = sdk.bounces.delete(domain=TEST_DOMAIN, bounce_address="alice+x@example.com")
        assert response.json() == {"message": "Bounced address has been removed", "address": "alice+x@example.com"}
        response = sdk.bounces.delete(domain=TEST_DOMAIN)
        assert response.json() == {"message": "Bounced addresses for this domain have been removed"}
