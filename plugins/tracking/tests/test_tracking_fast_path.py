"""The fast path (``wrap_asgi``) answers cached pixel and link hits before Quart exactly as the
Quart routes do: same status, body and headers, same recording, the access line and request id
kept; everything else still reaches Quart."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from postgate_tracking import plugin
from postgate_tracking.state import tracking_for
from tracking_helpers import KEYS, events, local, outbox, send_batch, tracking_settings, tracking_urls

VARYING = {"date", "x-request-id", "server"}


@pytest.fixture
def server(live_server, monkeypatch):
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    return live_server(plugins=[plugin], plugin_settings=tracking_settings(opens=True, clicks=True, trust_proxy=True,
                                                                              machines="label"))


def access_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "postgate.access" and "/t/" in r.path]


def same_but_varying(first: httpx.Response, second: httpx.Response) -> None:
    assert first.status_code == second.status_code and first.content == second.content
    assert ({k: v for k, v in first.headers.items() if k not in VARYING}
            == {k: v for k, v in second.headers.items() if k not in VARYING})


def test_fast_answers_match_quart_and_are_recorded(server, caplog) -> None:
    send_batch(server, ["ann@example.com"], "6740a1b2c3d4e5f6a7b8c9d0")
    pixel, links = tracking_urls(outbox(server, 1)[0])
    state = tracking_for(server.gateway)
    headers = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Outlook", "X-Forwarded-For": "10.9.8.7, 203.0.113.9",
               "X-Request-Id": "req-fast-1"}
    with httpx.Client(timeout=30) as http, caplog.at_level(logging.INFO, logger="postgate.access"):
        by_quart = http.get(local(server, pixel), headers=headers)  # fills the batch cache
        assert state.fast_hits == 0
        fast = http.get(local(server, pixel), headers=headers)
        assert state.fast_hits == 1
        same_but_varying(by_quart, fast)
        assert fast.headers["x-request-id"] == "req-fast-1" and fast.content.startswith(b"GIF89a")
        click_quart = http.get(local(server, links[0]), headers=headers, follow_redirects=False)
        click_fast = http.get(local(server, links[0]), headers=headers, follow_redirects=False)
        assert state.fast_hits == 2 and click_fast.status_code == 302
        same_but_varying(click_quart, click_fast)
        assert http.head(local(server, pixel)).status_code == 200 and state.fast_hits == 3  # HEAD: not recorded
        deadline = time.monotonic() + 10  # each line is written just after its answer went out
        while len(access_lines(caplog)) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(access_lines(caplog)) == 5 and all(r.status in (200, 302) for r in access_lines(caplog))
    opened = events(server, "opened", 2)
    assert len(opened) == 2 and {e["ip"] for e in opened} == {"203.0.113.0"}  # the proxy's entry, truncated
    assert all(e["client-info"]["user-agent"] == headers["User-Agent"] for e in opened)
    clicked = events(server, "clicked", 2)  # labelled as a scanner's (clicked at once), kept by "label"
    assert len(clicked) == 2 and {e["url"] for e in clicked} == {"https://blog.example.com/p/one/?ref=news&utm=1"}
    assert state.recorder.stored == 4


def test_what_the_fast_path_leaves_to_quart(server) -> None:
    send_batch(server, ["ann@example.com"], "6740a1b2c3d4e5f6a7b8c9d0")
    pixel, links = tracking_urls(outbox(server, 1)[0])
    state = tracking_for(server.gateway)
    url = local(server, pixel)
    token = url.rsplit("/", 1)[1][:-4]
    with httpx.Client(timeout=30) as http:
        assert http.get(url).status_code == 200  # cached now
        before = state.fast_hits
        tampered = url.replace(token, token[:-6] + ("AAAAAA" if token[-6:] != "AAAAAA" else "BBBBBB"))
        for answer in (http.get(tampered), http.get(url[:-4] + "/x.gif"), http.get(url.replace(".gif", ".png")),
                       http.get(url.replace("/t/o/", "/t/c/"))):
            assert answer.status_code == 404 and answer.json()["message"].lower() == "not found"
        for hostile in ("/t/o/%00.gif", "/t/o/%0D%0A.gif", "/t/c/" + "A" * 5000, "/t/o/%E2%80%A8.gif",
                        f"/t/o/{token}%00.gif", f"/t/c/{token[:-1]}%0A"):
            answer = http.get(server.url + hostile)
            assert answer.status_code == 404 and "message" in answer.json(), hostile
        assert http.post(url).status_code == 405
    with_body = httpx.request("GET", url, content=b"x" * 10, timeout=30)  # its own connection: the body is unread
    assert with_body.status_code == 200  # Quart answers it, as before
    assert state.fast_hits == before


def test_switched_off_every_hit_goes_through_quart(live_server, monkeypatch) -> None:
    monkeypatch.setenv("POSTGATE_TRACKING_KEYS", KEYS)
    server = live_server(plugins=[plugin], plugin_settings=tracking_settings(opens=True, fast_path=False))
    send_batch(server, ["ann@example.com"], "6740a1b2c3d4e5f6a7b8c9d0")
    pixel, _ = tracking_urls(outbox(server, 1)[0])
    with httpx.Client(timeout=30, headers={"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Outlook"}) as http:
        assert [http.get(local(server, pixel)).status_code for _ in range(3)] == [200] * 3
    assert tracking_for(server.gateway).fast_hits == 0
    assert len(events(server, "opened", 3)) == 3
