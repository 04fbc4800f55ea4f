"""Webhook delivery against real receivers on loopback: Mailgun's payload and signature, the
retry schedule, 406, a dead endpoint that holds only its own share, the SSRF guard at delivery
time, durability across a restart, and leases shared by two delivering gateways."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

import postgate_webhooks.plugin as webhooks_plugin
from postgate import Gateway
from postgate.testing.fixtures import TEST_DOMAIN, LiveServer, basic_auth, make_settings
from postgate_webhooks.models import Delivery, Subscription
from webhook_helpers import ALLOW_PRIVATE, Blackhole, Receiver, api, attempts, send, signing_key, subscribe, webhook_server

SIMULATED_BOUNCE = "bounce@simulator.amazonses.com"


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


def test_events_arrive_signed_as_mailgun_posts_them(live_server, receiver) -> None:
    server = webhook_server(live_server)
    receiver.signing_key = signing_key(server)
    subscribe(server, "delivered", receiver.url("/delivered"), receiver.url("/copy"))
    subscribe(server, "accepted", receiver.url("/accepted"))
    subscribe(server, "permanent_fail", receiver.url("/failed"))
    send(server, ["ann@example.com", SIMULATED_BOUNCE])

    receiver.wait(lambda: len(receiver.to("/delivered")) == 1 and receiver.to("/failed")
                  and len(receiver.to("/accepted")) == 2 and receiver.to("/copy"))
    [delivered] = receiver.to("/delivered")
    assert set(delivered.body) == {"signature", "event-data"}
    assert set(delivered.body["signature"]) == {"timestamp", "token", "signature"}
    assert len(delivered.body["signature"]["token"]) == 50
    assert delivered.headers["Content-Type"] == "application/json"
    assert receiver.verified and all(receiver.verified)
    [failed] = receiver.to("/failed")
    assert failed.body["event-data"]["severity"] == "permanent"
    assert failed.body["event-data"]["recipient"] == SIMULATED_BOUNCE

    # The event-data is the very event GET /events returns.
    with api(server) as http:
        items = http.get(f"/v3/{TEST_DOMAIN}/events", params={"event": "delivered"}).json()["items"]
    assert delivered.body["event-data"] == items[0]
    assert receiver.to("/copy")[0].body["event-data"]["id"] == items[0]["id"]
    # Each attempt has its own token (receivers use it against replays).
    tokens = [p.body["signature"]["token"] for p in receiver.posts]
    assert len(set(tokens)) == len(tokens)


def test_rotated_key_signs_the_next_posts(live_server, receiver) -> None:
    server = webhook_server(live_server)
    subscribe(server, "delivered", receiver.url("/d"))
    with api(server) as http:
        receiver.signing_key = http.post("/v5/accounts/http_signing_key").json()["http_signing_key"]
    send(server, "ann@example.com")
    receiver.wait(lambda: receiver.to("/d"))
    assert receiver.verified == [True]


def test_a_rotation_between_posts_signs_the_next_post_with_the_new_key(live_server, receiver) -> None:
    server = webhook_server(live_server)
    receiver.signing_key = signing_key(server)
    subscribe(server, "delivered", receiver.url("/d"))
    send(server, "ann@example.com")
    receiver.wait(lambda: receiver.to("/d"))  # the loop has read (and keeps a copy of) the old key
    with api(server) as http:
        receiver.signing_key = http.post("/v5/accounts/http_signing_key").json()["http_signing_key"]
    send(server, "bob@example.com")
    receiver.wait(lambda: len(receiver.to("/d")) == 2)
    assert receiver.verified == [True, True]


def test_failures_are_retried_on_the_schedule_until_delivered(live_server, receiver) -> None:
    server = webhook_server(live_server)
    receiver.answers["/flaky"] = [500, 503]
    subscribe(server, "delivered", receiver.url("/flaky"))
    send(server, "ann@example.com")
    receiver.wait(lambda: len(receiver.to("/flaky")) == 3)
    rows = receiver.wait(lambda: len(attempts(server)) == 3 and attempts(server))
    assert [(a.outcome, a.status_code) for a in reversed(rows)] == [("retry", 500), ("retry", 503), ("delivered", 200)]
    # The same event each time, with a fresh signature.
    posts = receiver.to("/flaky")
    assert len({p.body["event-data"]["id"] for p in posts}) == 1
    assert len({p.body["signature"]["token"] for p in posts}) == 3


def test_retries_stop_when_the_schedule_runs_out(live_server, receiver) -> None:
    server = webhook_server(live_server, retry_schedule=[0.1, 0.1])
    receiver.answers["/down"] = [500] * 10
    subscribe(server, "delivered", receiver.url("/down"))
    send(server, "ann@example.com")
    rows = receiver.wait(lambda: len(attempts(server)) == 3 and attempts(server))
    assert [a.outcome for a in reversed(rows)] == ["retry", "retry", "failed"]
    time.sleep(0.5)
    assert len(receiver.to("/down")) == 3


def test_406_stops_retries(live_server, receiver) -> None:
    server = webhook_server(live_server)
    receiver.answers["/no"] = [406]
    subscribe(server, "delivered", receiver.url("/no"))
    send(server, "ann@example.com")
    rows = receiver.wait(lambda: attempts(server))
    assert [(a.outcome, a.status_code) for a in rows] == [("rejected", 406)]
    time.sleep(1.0)  # three retry periods: none comes
    assert len(receiver.to("/no")) == 1


def test_a_dead_endpoint_holds_only_its_own_share(live_server, receiver) -> None:
    dead = Blackhole()
    try:
        server = webhook_server(live_server, timeout_seconds=60, max_connections=4, per_url_connections=2)
        subscribe(server, "accepted", dead.url("/dead"), receiver.url("/alive"))
        for index in range(4):
            send(server, [f"r{index}-{n}@example.com" for n in range(10)])
        receiver.wait(lambda: len(receiver.to("/alive")) == 40, timeout=50)
        # Every live POST went through while the dead one still held its connections: none of
        # its POSTs has ended (each waits 60 s), and it never had more than its share.
        assert attempts(server, failed_only=True) == []
        assert 1 <= len(dead.held) <= 2
    finally:
        dead.close()


def test_each_post_records_how_long_it_took(live_server, receiver) -> None:
    """The log holds each POST's duration, from its start until the answer was read or the POST
    failed: a receiver that answers after 0.3 s shows at least 300 ms on each try, a dead one the
    whole timeout."""
    dead = Blackhole()
    try:
        server = webhook_server(live_server, timeout_seconds=1, retry_schedule=[0.2, 3600])
        receiver.pauses["/slow"] = 0.3
        receiver.answers["/slow"] = [503]  # retried once, then delivered
        subscribe(server, "delivered", receiver.url("/fast"), receiver.url("/slow"), dead.url("/dead"))
        send(server, "ann@example.com")
        rows = receiver.wait(lambda: len(attempts(server)) == 5 and attempts(server), timeout=60)
        by_url: dict[str, list] = {}
        for row in reversed(rows):  # oldest first
            by_url.setdefault(row.url, []).append(row)
        [fast] = by_url[receiver.url("/fast")]
        assert fast.outcome == "delivered" and fast.duration_ms is not None and fast.duration_ms > 0
        slow = by_url[receiver.url("/slow")]
        assert [(a.outcome, a.status_code) for a in slow] == [("retry", 503), ("delivered", 200)]
        assert all(a.duration_ms >= 300 for a in slow), [a.duration_ms for a in slow]
        dropped = by_url[dead.url("/dead")]
        assert [(a.outcome, a.status_code, a.error) for a in dropped] == [("retry", None, "timed out")] * 2
        assert all(a.duration_ms >= 990 for a in dropped), [a.duration_ms for a in dropped]
    finally:
        dead.close()


def test_delivery_refuses_internal_addresses_without_the_setting(live_server, receiver) -> None:
    server = webhook_server(live_server, allow_private_targets=False)

    async def sneak_in() -> None:  # as if the name had resolved elsewhere when it was configured
        with server.gateway.storage.orm():
            await Subscription.create(domain=TEST_DOMAIN, webhook="delivered", url=receiver.url("/inside"),
                                      created_at=time.time())

    server.run(sneak_in())
    send(server, "ann@example.com")
    [row] = receiver.wait(lambda: attempts(server))
    assert row.outcome == "refused" and "127.0.0.1" in row.error
    assert row.duration_ms is None  # no POST was made
    assert receiver.posts == []


def test_queued_deliveries_survive_a_restart(tmp_path, receiver) -> None:
    settings = make_settings(tmp_path / "data", gateway={"workers": 1},
                             plugin_settings={"webhooks": {**ALLOW_PRIVATE, "deliver": False}})
    first = LiveServer(Gateway(settings, plugins=[webhooks_plugin], load_entrypoints=False)).start()
    try:
        subscribe(first, "delivered", receiver.url("/later"))
        send(first, ["a@example.com", "b@example.com"])

        async def queued() -> int:
            with first.gateway.storage.orm():
                return await Delivery.filter(status="pending").count()

        receiver.wait(lambda: first.run(queued()) == 2)

        async def crash_mid_post() -> None:  # a worker took one and died: its lease runs out
            with first.gateway.storage.orm():
                row = await Delivery.filter(status="pending").first()
                await Delivery.filter(id=row.id).update(lease_owner="dead-worker", lease_until=time.time() - 1)

        first.run(crash_mid_post())
    finally:
        first.stop()
    assert receiver.posts == []

    settings = make_settings(tmp_path / "data", plugin_settings={"webhooks": ALLOW_PRIVATE})
    second = LiveServer(Gateway(settings, plugins=[webhooks_plugin], load_entrypoints=False)).start()
    try:
        receiver.wait(lambda: len(receiver.to("/later")) == 2)
        assert sorted(p.body["event-data"]["recipient"] for p in receiver.posts) == ["a@example.com", "b@example.com"]
    finally:
        second.stop()


async def test_two_delivering_gateways_post_each_delivery_once(tmp_path, receiver) -> None:
    settings = make_settings(tmp_path / "data", plugin_settings={"webhooks": {**ALLOW_PRIVATE, "claim_batch": 7}})
    gateways = [Gateway(settings, plugins=[webhooks_plugin], load_entrypoints=False) for _ in range(2)]
    for gateway in gateways:
        await gateway.start()
        gateway.start_background(workers=0)  # event sources only: delivering is background work
    try:
        now = time.time()
        with gateways[0].storage.orm():
            await Delivery.bulk_create([
                Delivery(domain=TEST_DOMAIN, webhook="delivered", url=receiver.url("/shared"), event_id=f"ev{i}",
                         event_data=f'{{"id": "ev{i}", "event": "delivered"}}', enqueued_at=now, next_at=now)
                for i in range(120)])
        for gateway in gateways:
            from postgate_webhooks.state import webhooks_for

            webhooks_for(gateway).dispatcher.wake()
        deadline = time.monotonic() + 30
        while len(receiver.to("/shared")) < 120 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        ids = [p.body["event-data"]["id"] for p in receiver.to("/shared")]
        assert sorted(ids) == sorted(f"ev{i}" for i in range(120))
    finally:
        for gateway in gateways:
            await gateway.stop()


def test_the_api_needs_the_key(live_server) -> None:
    server = webhook_server(live_server, background=False)
    assert httpx.get(f"{server.url}/v3/domains/{TEST_DOMAIN}/webhooks", timeout=30).status_code == 401
    assert httpx.get(f"{server.url}/v3/domains/{TEST_DOMAIN}/webhooks", headers=basic_auth("wrong"),
                     timeout=30).status_code == 401


def test_a_failing_url_is_left_alone_while_its_circuit_is_open(live_server, receiver) -> None:
    server = webhook_server(live_server, breaker_failures=2, breaker_seconds=60, per_url_connections=1,
                            retry_schedule=[0.1] * 5)
    receiver.answers["/bad"] = [500] * 100
    subscribe(server, "accepted", receiver.url("/bad"), receiver.url("/good"))
    send(server, [f"r{n}@example.com" for n in range(6)])

    async def held() -> list[float]:
        with server.gateway.storage.orm():
            return await Delivery.filter(url=receiver.url("/bad"), status="pending").values_list("next_at", flat=True)

    def all_held() -> bool:
        next_at = server.run(held())
        return len(next_at) == 6 and all(at > time.time() + 30 for at in next_at)

    receiver.wait(lambda: len(receiver.to("/good")) == 6)
    receiver.wait(lambda: len(receiver.to("/bad")) >= 2 and all_held())  # the circuit opened
    time.sleep(1.0)  # ten retry periods: the open circuit holds them all back
    assert len(receiver.to("/bad")) == 2
    assert all_held()
