"""The storage-facing bounds on MariaDB: whatever a client sends is refused with a 4xx or stored
so that it reads back (no 5xx, lists stay readable), as on SQLite."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart.datastructures import FileStorage

from fuzz_harness import TEST_DOMAIN, AppDriver, assert_mailgun_answer
from postgate.testing.mariadb import create_database, drop_database
from strategies import any_value, filter_expressions, huge_numbers, json_values, nasty_text

ROOT = f"/v3/{TEST_DOMAIN}"
LISTS = ["bounces", "complaints", "unsubscribes", "whitelists"]
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    import postgate_mysql

    url = asyncio.run(create_database("postgate_fuzz"))
    made = AppDriver(tmp_path_factory.mktemp("fuzz-mysql"), plugins=(postgate_mysql,),
                     backends={"storage": "mysql"}, plugin_settings={"mysql": {"url": url, "maxsize": 4}})
    try:
        yield made
    finally:
        made.close()
        asyncio.run(drop_database(url))


def test_the_driver_is_on_mariadb(driver):
    assert type(driver.gateway.storage).__name__ == "MysqlStorage"


@FUZZ
@given(list_name=st.sampled_from(LISTS), records=st.lists(st.fixed_dictionaries({}, optional={
    "address": st.one_of(st.just("x" * 310 + "@example.com"), nasty_text.map(lambda s: s + "@example.com"),
                         st.text(max_size=400).map(lambda s: s + "@example.com")),
    "domain": nasty_text, "error": st.one_of(nasty_text, st.just("é" * 5000), st.just("\U0001f600" * 4096)),
    "reason": st.one_of(nasty_text, st.just("\U0001f600" * 4096)), "code": any_value,
    "tags": st.lists(st.one_of(nasty_text, st.just("t" * 129)), max_size=120), "created_at": st.one_of(
        huge_numbers, st.floats(), st.integers(min_value=-(2**70), max_value=2**70))}), min_size=1, max_size=4))
def test_suppressions_are_refused_or_read_back(driver, list_name, records):
    body = json.dumps(records)
    reply = driver.request("post", f"{ROOT}/{list_name}", data=body, headers={"Content-Type": "application/json"})
    assert_mailgun_answer(reply, body[:200])
    listing = driver.request("get", f"{ROOT}/{list_name}", query_string={"limit": "1000"})
    assert listing.status == 200, listing.text[:300]


@FUZZ
@given(rows=st.lists(st.lists(st.one_of(nasty_text, any_value, json_values.map(json.dumps)), max_size=3)
                     .map(",".join), max_size=6))
def test_csv_imports_are_refused_or_read_back(driver, rows):
    text = "\n".join(["address,tags,created_at", *rows])
    files = {"file": FileStorage(io.BytesIO(text.encode("utf-8", "surrogatepass")), filename="x.csv")}
    assert_mailgun_answer(driver.request("post", f"{ROOT}/unsubscribes/import", files=files), text[:200])
    assert driver.request("get", f"{ROOT}/unsubscribes").status == 200


@FUZZ
@given(params=st.lists(st.tuples(st.sampled_from(["event", "tags", "recipient", "message-id", "severity"]),
                                 filter_expressions), max_size=20))
def test_event_filters_never_fail(driver, params):
    assert_mailgun_answer(driver.request("get", f"{ROOT}/events", query_string=params), repr(params)[:200])


def test_a_long_tag_description_is_a_400(driver):
    driver.run(driver.gateway.storage.touch_tags(TEST_DOMAIN, ["news"], 1_700_000_000.0))
    assert driver.request("put", f"{ROOT}/tags/news", form={"description": "\U0001f600" * 4097}).status == 400
    assert driver.request("put", f"{ROOT}/tags/news", form={"description": "\U0001f600" * 4096}).status == 200
    assert driver.request("get", f"{ROOT}/tags/news").body["description"] == "\U0001f600" * 4096


@pytest.mark.parametrize("extra,text", [
    ({"to": "a" * 400 + "@example.com"}, "address"),
    ({"to": '"' + "N" * 300 + '" <n@example.com>'}, "display name"),
    ({"v:email-id": "e" * 200}, "v:email-id"),
    ({"h:Message-Id": "<" + "m" * 300 + "@x>"}, "Message-Id"),
    ({"h:Message-Id": "<%recipient.id%@x>", "to": "r@example.com",
      "recipient-variables": json.dumps({"r@example.com": {"id": "i" * 300}})}, "Message-Id"),
])
def test_send_fields_longer_than_their_columns_are_a_400(driver, extra, text):
    form = {"from": "s@mg.example.com", "to": "x@example.com", "subject": "s", "text": "t", **extra}
    reply = driver.request("post", f"{ROOT}/messages", form=form)
    assert reply.status == 400 and text in reply.body["message"], reply.text[:200]


@FUZZ
@given(to=st.lists(st.one_of(st.text(max_size=400), st.just("a" * 330 + "@example.com")).map(
           lambda s: s + "@example.com"), min_size=1, max_size=3),
       email_id=st.one_of(st.none(), st.text(max_size=200)), message_id=st.one_of(st.none(), st.text(max_size=600)))
def test_sends_are_refused_or_stored(driver, to, email_id, message_id):
    form = {"from": "s@mg.example.com", "to": to, "subject": "s", "text": "t"}
    if email_id is not None:
        form["v:email-id"] = email_id
    if message_id is not None:
        form["h:Message-Id"] = message_id
    assert_mailgun_answer(driver.request("post", f"{ROOT}/messages", form=form), repr(form)[:200])
