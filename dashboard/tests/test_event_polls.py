"""When Ghost last read events is kept in ``dashboard_event_polls``: written after the response at
most once per ``WRITE_EVERY`` seconds per domain, seen by a process that did not serve the read (or
restarted), and never moved back by an older read another process writes late."""

from __future__ import annotations

import httpx

import postgate_dashboard
from postgate.testing.fixtures import TEST_DOMAIN, basic_auth
from postgate_dashboard.rollups.models import EventPoll
from postgate_dashboard.web.event_polls import WRITE_EVERY, Poll, PollClock, read_poll, write_polls
from postgate_dashboard.web_plugin import dashboard_of

GHOST_AGENT = "Ghost/5.99 (+https://ghost.org)"


def read_events(server, agent: str) -> None:
    response = httpx.get(f"{server.url}/v3/{TEST_DOMAIN}/events", params={"limit": 1},
                         headers={**basic_auth(), "User-Agent": agent}, timeout=30)
    assert response.status_code == 200


def stored_rows(server) -> list[tuple]:
    async def rows():
        with server.gateway.storage.orm():
            return await EventPoll.all().values_list("domain", "user_agent")
    return server.run(rows())


def test_a_read_is_stored_once_per_interval_and_seen_by_another_process(live_server) -> None:
    server = live_server(plugins=[postgate_dashboard])
    clock = dashboard_of(server.gateway).polls
    read_events(server, GHOST_AGENT)
    read_events(server, "second/1")  # within WRITE_EVERY: noted in memory, not written again
    server.run(clock.close(server.gateway))
    assert clock.get(TEST_DOMAIN).user_agent == "second/1"
    assert stored_rows(server) == [(TEST_DOMAIN, GHOST_AGENT)]

    elsewhere = PollClock()  # another process, or this one after a restart: nothing in memory
    seen = server.run(elsewhere.latest(server.gateway, TEST_DOMAIN.upper()))
    assert seen is not None and seen.user_agent == GHOST_AGENT
    assert abs(seen.at - clock.get(TEST_DOMAIN).at) < WRITE_EVERY
    # The serving process shows its own newer read.
    assert server.run(clock.latest(server.gateway, TEST_DOMAIN)).user_agent == "second/1"
    assert server.run(elsewhere.latest(server.gateway, "other.example.com")) is None


async def test_an_older_poll_written_late_does_not_replace_a_newer_one(gateway) -> None:
    await write_polls(gateway, {"a.example.com": Poll(2_000, "new/1"), "b.example.com": Poll(1_000, "b/1")})
    await write_polls(gateway, {"a.example.com": Poll(1_500, "late/1"), "b.example.com": Poll(3_000, "b/2")})
    assert await read_poll(gateway, "a.example.com") == Poll(2_000.0, "new/1")
    assert await read_poll(gateway, "b.example.com") == Poll(3_000.0, "b/2")


def test_the_clock_writes_a_domain_again_after_the_interval() -> None:
    clock = PollClock()
    assert clock.seen("Mg.Example.com", 100.0, "a" * 500) is True
    assert clock.get("mg.example.com").user_agent == "a" * 200
    assert clock.seen("mg.example.com", 100.0 + WRITE_EVERY - 1, "b") is False
    assert clock.seen("mg.example.com", 100.0 + WRITE_EVERY, "c") is True
    assert clock.due == {"mg.example.com"}
