"""The POST path with a real aiohttp session and a real receiver: the connection goes to the
address the SSRF guard checked, while the request keeps the URL's host name."""

from __future__ import annotations

from postgate_webhooks.poster import PinnedResolver, new_session, post
from postgate_webhooks.targets import Target
from webhook_helpers import Receiver


async def test_a_post_goes_to_the_pinned_address_under_the_urls_name() -> None:
    receiver = Receiver()
    try:
        port = receiver.url("/").split(":")[2].split("/")[0]
        url = f"http://hooks.invalid:{port}/pinned"  # .invalid never resolves: only the pin leads there
        resolver = PinnedResolver()
        async with new_session(4, 10, resolver) as session:
            unpinned = await post(session, Target(url, "hooks.invalid", None), b"{}")
            resolver.pin(Target(url, "hooks.invalid", "127.0.0.1"))
            pinned = await post(session, Target(url, "HOOKS.invalid", "127.0.0.1"), b'{"n": 1}')
        assert unpinned.status is None and "hooks.invalid" in unpinned.error
        assert pinned.ok
        [received] = receiver.to("/pinned")
        assert received.headers["Host"] == f"hooks.invalid:{port}"
        assert received.headers["Content-Type"] == "application/json"
    finally:
        receiver.close()


async def test_transport_failures_and_statuses_become_answers() -> None:
    receiver = Receiver()
    receiver.answers["/gone"] = [406]
    try:
        async with new_session(4, 10, PinnedResolver()) as session:
            target = Target(receiver.url("/gone"), "127.0.0.1", None)
            rejected = await post(session, target, b"{}")
            closed = await post(session, Target("http://127.0.0.1:9/", "127.0.0.1", None), b"{}")
        assert (rejected.status, rejected.error, rejected.ok) == (406, "HTTP 406", False)
        assert closed.status is None and closed.error.startswith("Client")
    finally:
        receiver.close()
