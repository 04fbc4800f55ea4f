"""No 5xx from any request: generated hostile input for every class of 500 found in issue 7.

Each test drives the real app in-process with hypothesis-generated input and fails on any 5xx
or any error answer outside Mailgun's ``{"message": ...}`` shape; the live-server fuzzing of
the whole OpenAPI surface is in ``test_schemathesis.py``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import string
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from quart import Blueprint
from quart.datastructures import FileStorage

from fuzz_harness import TEST_DOMAIN, AppDriver, assert_mailgun_answer
from postgate.errors import BadRequest
from postgate.hookspecs import hookimpl
from postgate.limits import MAX_JSON_DEPTH, load_json
from postgate.access_log import WELL_FORMED_ID as REQUEST_ID
from strategies import (
    any_value,
    deep_json,
    deep_json_text,
    encode_token,
    filter_expressions,
    huge_numbers,
    json_text,
    json_values,
    mailgun_forms,
    nasty_text,
    page_tokens,
)

ROOT = f"/v3/{TEST_DOMAIN}"
LISTS = ["bounces", "complaints", "unsubscribes", "whitelists"]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
latin1_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=60)


# -- authentication happens before anything else, and never fails open or with a 500 ----------


@FUZZ
@given(garbage=st.one_of(latin1_text, st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode() + "é"),
                         st.sampled_from(["", "=", "YXBp", "YXBpOg==", "!!!!", "api:key-test", "YXBpOmtleS10ZXN0=x", "YXBpOmtleS10ZXN"])),
       scheme=st.sampled_from(["Basic ", "basic ", "Basic  ", "Bearer ", ""]))
def test_garbage_after_basic_is_forbidden(driver, garbage, scheme):
    assume(not garbage.strip().startswith(base64.b64encode(b"api:key-test").decode()))  # the key itself
    reply = driver.request("get", "/v3/domains", auth={"Authorization": scheme + garbage})
    assert (reply.status, reply.text) == (401, "Forbidden"), (scheme, garbage, reply.text[:200])


def test_the_real_key_still_works(driver):
    token = base64.b64encode(b"api:key-test").decode()
    assert driver.request("get", "/v3/domains", auth={"Authorization": f"Basic {token}"}).status == 200
    assert driver.request("get", "/v3/domains", auth={"Authorization": f"basic  {token} "}).status == 200


# -- request ids and the last-resort 500 ------------------------------------------------------


@FUZZ
@given(sent=st.one_of(latin1_text, st.from_regex(REQUEST_ID, fullmatch=True)))
def test_every_response_carries_a_sane_request_id(driver, sent):
    reply = driver.request("get", "/healthcheck", auth=False, headers={"X-Request-Id": sent})
    echoed = reply.headers["X-Request-Id"]
    assert REQUEST_ID.match(echoed)
    assert echoed == sent if REQUEST_ID.match(sent) else echoed != sent


class Exploding:
    """A plugin whose route, key check and error payload all fail unexpectedly."""

    @hookimpl
    def register_routes(self, gateway):
        bp = Blueprint("exploding", __name__)

        @bp.get("/boom")
        async def boom():
            raise RuntimeError("secret-detail-from-a-route")

        @bp.get("/boom-in-handler")
        async def boom_in_handler():
            raise BadRequest("fine", detail=object())  # the error handler cannot serialise it

        return [bp]

    @hookimpl
    def check_api_key(self, gateway, domain, api_key):
        if api_key == "explode":
            raise RuntimeError("secret-detail-from-auth")
        return None


@pytest.fixture(scope="module")
def exploding(tmp_path_factory):
    made = AppDriver(tmp_path_factory.mktemp("boom"), plugins=(Exploding(),))
    yield made
    made.close()


@pytest.mark.parametrize("path,auth", [
    ("/boom", False),
    ("/boom-in-handler", False),
    ("/v3/domains", {"Authorization": "Basic " + base64.b64encode(b"api:explode").decode()}),
])
def test_unexpected_errors_are_one_log_line_and_a_json_500(exploding, caplog, path, auth):
    caplog.set_level(logging.ERROR)
    reply = exploding.request("get", path, auth=auth, headers={"X-Request-Id": "trace-me-123"})
    assert reply.status == 500
    assert reply.body == {"message": "Internal server error", "request_id": "trace-me-123"}
    assert reply.headers["X-Request-Id"] == "trace-me-123"
    assert "secret" not in reply.text and "Traceback" not in reply.text
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1 and "trace-me-123" in logged[0].getMessage() and logged[0].exc_info


# -- JSON from clients: one bounded loader ----------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(text=json_text)
def test_the_json_loader_refuses_with_value_errors_only(text):
    try:
        data = load_json(text)
    except ValueError:
        return
    json.dumps(data).encode("utf-8")  # whatever it accepts can be written back and stored


def test_the_json_loader_measures_depth_without_recursion():
    with pytest.raises(ValueError, match="deeper"):
        load_json("[" * 1_000_000)
    assert load_json(deep_json(MAX_JSON_DEPTH)) is not None
    with pytest.raises(ValueError, match="deeper"):
        load_json(deep_json(MAX_JSON_DEPTH + 1, "{"))


def message_form(*extra):
    return {"from": "Sender <sender@mg.example.com>", "to": "alice@example.com", "subject": "Hi",
            "text": "Hello", **dict(extra)}


@FUZZ
@given(depth=st.integers(min_value=MAX_JSON_DEPTH + 1, max_value=50_000), opener=st.sampled_from("[{"),
       field=st.sampled_from(["recipient-variables", "h:X-Mailgun-Variables"]))
def test_deep_json_in_send_fields_is_a_400(driver, depth, opener, field):
    value = deep_json(depth, opener)
    if field == "recipient-variables":
        value = json.dumps({"alice@example.com": {"x": 1}})[:-1] + ', "b": ' + value + "}"
    reply = driver.request("post", f"{ROOT}/messages", form=message_form((field, value)))
    assert reply.status == 400, reply.text[:200]
    assert "not a valid JSON" in reply.body["message"] or "16 kB" in reply.body["message"]


@FUZZ
@given(body=st.one_of(deep_json_text, json_text), list_name=st.sampled_from(LISTS),
       path=st.sampled_from(["", "/import"]))
def test_json_bodies_never_fail(driver, body, list_name, path):
    reply = driver.request("post", f"{ROOT}/{list_name}{path}", data=body.encode("utf-8", "surrogatepass"),
                           headers={"Content-Type": "application/json"})
    assert_mailgun_answer(reply, body[:80])
    reply = driver.request("post", f"{ROOT}/messages", data=body.encode("utf-8", "surrogatepass"),
                           headers={"Content-Type": "application/json"})
    assert_mailgun_answer(reply, body[:80])


# -- events: page tokens and filter expressions -----------------------------------------------


@FUZZ
@given(token=page_tokens)
def test_page_tokens_never_fail(driver, token):
    reply = driver.request("get", f"{ROOT}/events/{quote(token, safe='')}")
    assert_mailgun_answer(reply, token[:100])


@pytest.mark.parametrize("value", [2**63, 2**64, 10**30, -1])
@pytest.mark.parametrize("slot", [3, 4, "cursor"])
def test_page_tokens_beyond_64_bits_are_a_400(driver, value, slot):
    data = [1, TEST_DOMAIN, 1, None, None, [], 10, 0, None]
    if slot == "cursor":
        data[8] = [value, 1]
    else:
        data[slot] = value
    reply = driver.request("get", f"{ROOT}/events/{encode_token(data)}")
    assert (reply.status, reply.body) == (400, {"message": "invalid page token"})


@FUZZ
@given(params=st.lists(st.tuples(st.sampled_from(["event", "tags", "recipient", "message-id", "severity", "size"]),
                                 filter_expressions), max_size=24),
       begin=st.one_of(st.none(), huge_numbers), limit=st.one_of(st.none(), huge_numbers))
def test_filter_queries_never_fail(driver, params, begin, limit):
    query = list(params)
    if begin is not None:
        query.append(("begin", begin))
    if limit is not None:
        query.append(("limit", limit))
    reply = driver.request("get", f"{ROOT}/events", query_string=query)
    assert_mailgun_answer(reply, repr(query)[:200])


@pytest.mark.parametrize("expression", [
    "(" * 500 + "a" + ")" * 500,
    "NOT " * 240 + "a",
    " OR ".join(["a"] * 200),
    " ".join(["a"] * 400),
])
def test_nested_or_repeated_filters_are_a_400(driver, expression):
    reply = driver.request("get", f"{ROOT}/events", query_string={"event": expression})
    assert reply.status == 400 and "invalid filter expression" in reply.body["message"]


def test_repeated_filter_parameters_are_bounded(driver):
    query = [("tags", f"t{i} OR u{i} OR v{i} OR w{i} OR x{i}") for i in range(15)]
    reply = driver.request("get", f"{ROOT}/events", query_string=query)
    assert reply.status == 400 and "terms" in reply.body["message"]
    reply = driver.request("get", f"{ROOT}/events", query_string=[("tags", "a")] * 40)
    assert reply.status == 400 and "too many filter parameters" in reply.body["message"]


# -- stats ------------------------------------------------------------------------------------

durations = st.one_of(st.none(), st.from_regex(r"\A[0-9]{1,12}[hdmy]?\Z"), any_value)


@FUZZ
@given(start=st.one_of(st.none(), any_value), end=st.one_of(st.none(), any_value), duration=durations,
       resolution=st.one_of(st.none(), st.sampled_from(["hour", "day", "month", "HOUR", "year"]), nasty_text),
       event=st.lists(st.sampled_from(["accepted", "delivered", "failed", "opened", "bogus", ""]), max_size=4))
def test_stats_never_fail(driver, start, end, duration, resolution, event):
    query = [("event", name) for name in event or ["accepted"]]
    for name, value in (("start", start), ("end", end), ("duration", duration), ("resolution", resolution)):
        if value is not None:
            query.append((name, value))
    for path in (f"{ROOT}/stats/total", "/v3/stats/total"):
        assert_mailgun_answer(driver.request("get", path, query_string=query), repr(query)[:200])


@pytest.mark.parametrize("query", [
    {"duration": "9" * 400 + "d"}, {"duration": "9999999m"}, {"start": "1e308"}, {"end": "9" * 30},
    {"start": "0", "end": "253402300799", "resolution": "hour"}, {"end": "-5"},
])
def test_huge_stats_ranges_are_a_400(driver, query):
    reply = driver.request("get", f"{ROOT}/stats/total", query_string={"event": "accepted", **query})
    assert reply.status == 400, reply.text


# -- suppressions: never store what cannot be read back ---------------------------------------


@FUZZ
@given(list_name=st.sampled_from(LISTS), created_at=st.one_of(
    huge_numbers, st.sampled_from([1e308, -1e308, 10**400, -1, 2**63, 253402300800, 0.5]),
    st.floats(), st.integers()))
def test_created_at_out_of_range_is_refused_and_lists_stay_readable(driver, list_name, created_at):
    record = {"address": "range@example.com", "domain": "range.example", "created_at": created_at}
    if list_name != "whitelists":
        record.pop("domain")
    else:
        record.pop("address")
    body = json.dumps(record, allow_nan=True)
    reply = driver.request("post", f"{ROOT}/{list_name}", data=body, headers={"Content-Type": "application/json"})
    assert reply.status in (200, 400), reply.text
    listing = driver.request("get", f"{ROOT}/{list_name}")
    assert listing.status == 200, listing.text


def test_created_at_1e308_is_a_400(driver):
    for body in ('{"address": "a@example.com", "created_at": 1e308}',
                 '[{"address": "a@example.com", "created_at": "1e308"}]'):
        reply = driver.request("post", f"{ROOT}/bounces", data=body, headers={"Content-Type": "application/json"})
        assert reply.status == 400 and "created_at" in reply.body["message"]
    reply = driver.request("post", f"{ROOT}/bounces", form={"address": "a@example.com", "created_at": "9" * 40})
    assert reply.status == 400 and "created_at" in reply.body["message"]
    assert driver.request("get", f"{ROOT}/bounces").status == 200


@FUZZ
@given(list_name=st.sampled_from(LISTS), records=st.lists(
    st.dictionaries(st.sampled_from(["address", "domain", "code", "error", "tags", "tag", "reason", "created_at"]),
                    json_values, max_size=5), max_size=5))
def test_suppression_records_never_fail(driver, list_name, records):
    body = json.dumps(records)
    reply = driver.request("post", f"{ROOT}/{list_name}", data=body, headers={"Content-Type": "application/json"})
    assert_mailgun_answer(reply, body[:200])
    assert driver.request("get", f"{ROOT}/{list_name}").status == 200


csv_cells = st.one_of(nasty_text, any_value, st.just("x" * 140_000), st.just('"unterminated'))


@FUZZ
@given(list_name=st.sampled_from(LISTS), header=st.sampled_from(["address", "address,created_at", "address,domain",
                                                                 "address,code,error", "address,tags"]),
       rows=st.lists(st.lists(csv_cells, max_size=3).map(",".join), max_size=5))
def test_csv_imports_never_fail(driver, list_name, header, rows):
    text = "\n".join([header, *rows])
    files = {"file": FileStorage(io.BytesIO(text.encode("utf-8", "surrogatepass")), filename="x.csv")}
    reply = driver.request("post", f"{ROOT}/{list_name}/import", files=files)
    assert_mailgun_answer(reply, text[:200])
    assert driver.request("get", f"{ROOT}/{list_name}").status == 200


def test_csv_cells_past_the_field_limit_are_a_400(driver):
    text = "address,error\nbig@example.com," + "x" * 200_000 + "\n"
    files = {"file": FileStorage(io.BytesIO(text.encode()), filename="x.csv")}
    reply = driver.request("post", f"{ROOT}/bounces/import", files=files)
    assert reply.status == 400 and "longer than" in reply.body["message"]
    text = "address\n" + "a," * 200_000 + "\n"
    files = {"file": FileStorage(io.BytesIO(text.encode()), filename="x.csv")}
    reply = driver.request("post", f"{ROOT}/bounces/import", files=files)
    assert reply.status == 400 and "line longer than" in reply.body["message"]


# -- the send form ----------------------------------------------------------------------------


@FUZZ
@given(fields=mailgun_forms)
def test_send_forms_never_fail(driver, fields):
    form = {}
    for key, value in fields:
        form.setdefault(key, []).append(value)
    reply = driver.request("post", f"{ROOT}/messages", form=form)
    assert_mailgun_answer(reply, repr(fields)[:200])


def test_a_message_over_the_message_limit_is_a_413(driver, monkeypatch):
    from postgate.mailgun import messages_api

    assert messages_api.MAX_MESSAGE_BYTES == 25 * 1024 * 1024  # Mailgun's limit; scaled down below
    monkeypatch.setattr(messages_api, "MAX_MESSAGE_BYTES", 1024 * 1024)
    big = FileStorage(io.BytesIO(b"x" * (1024 * 1024 - 100)), filename="big.bin")
    reply = driver.request("post", f"{ROOT}/messages", form=message_form(("h:X-Pad", "y" * 200)),
                           files={"attachment": big})
    assert reply.status == 413 and "at most 1 MB" in reply.body["message"]
    small = FileStorage(io.BytesIO(b"x" * 1000), filename="small.bin")
    assert driver.request("post", f"{ROOT}/messages", form=message_form(), files={"attachment": small}).status == 200


@FUZZ
@given(limit=any_value, skip=any_value, page=st.one_of(any_value, st.sampled_from(["first", "last", "next"])))
def test_list_parameters_never_fail(driver, limit, skip, page):
    query = {"limit": limit, "skip": skip, "page": page, "address": skip, "tag": skip, "term": page}
    for path in [f"{ROOT}/{name}" for name in LISTS] + [f"{ROOT}/tags", "/v3/domains", "/v4/domains",
                                                        f"{ROOT}/events"]:
        assert_mailgun_answer(driver.request("get", path, query_string=query), f"{path} {query}")


def test_printable_names_are_unchanged_by_the_bounds(driver):
    """The bounds refuse only what cannot be served: an ordinary entry still round-trips."""
    reply = driver.request("post", f"{ROOT}/unsubscribes", data=json.dumps(
        {"address": "Plain@Example.com", "tags": list(string.ascii_lowercase[:5]),
         "created_at": "Thu, 13 Oct 2011 18:02:00 GMT"}), headers={"Content-Type": "application/json"})
    assert reply.status == 200
    got = driver.request("get", f"{ROOT}/unsubscribes/plain@example.com")
    assert got.body["created_at"] == "Thu, 13 Oct 2011 18:02:00 UTC" and got.body["tags"] == list("abcde")


def test_a_tag_description_is_bounded(driver):
    driver.run(driver.gateway.storage.touch_tags(TEST_DOMAIN, ["news"], 1_700_000_000.0))
    reply = driver.request("put", f"{ROOT}/tags/news", form={"description": "x" * 5000})
    assert reply.status == 400 and "4096" in reply.body["message"]
    assert driver.request("put", f"{ROOT}/tags/news", form={"description": "é" * 4096}).status == 200


def test_a_body_over_the_request_limit_is_a_413_in_mailgun_shape(tmp_path):
    small = AppDriver(tmp_path, gateway={"max_request_mb": 1})
    try:
        big = b"x" * (1024 * 1024 + 10)
        for path, kwargs in [
            (f"{ROOT}/messages", {"form": message_form(("text", big.decode()))}),
            (f"{ROOT}/bounces", {"data": b"[" + big + b"]", "headers": {"Content-Type": "application/json"}}),
            (f"{ROOT}/bounces/import", {"files": {"file": FileStorage(io.BytesIO(big), filename="x.csv")}}),
        ]:
            reply = small.request("post", path, **kwargs)
            assert reply.status == 413, (path, reply.text[:200])
            assert reply.body["message"].startswith("Request too large"), reply.text[:200]
    finally:
        small.close()


@pytest.mark.parametrize("path,auth,status", [
    ("/v3/domains", False, 401), ("/v3/nope.example/events", True, 404), ("/v3/domains", True, 200),
    ("/no/such/route", False, 404),
])
def test_every_kind_of_answer_carries_the_request_id(driver, path, auth, status):
    reply = driver.request("get", path, auth=auth, headers={"X-Request-Id": "abc-123"})
    assert (reply.status, reply.headers.get("X-Request-Id")) == (status, "abc-123")
