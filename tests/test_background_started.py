"""The ``background_started`` hook: run where background work starts (a serving process with
workers, or ``start_background`` alone as ``postgate worker`` does), never in a gateway that was
only started."""

from __future__ import annotations

import asyncio

from postgate import Gateway, hookimpl
from postgate.testing.fixtures import make_settings


class Notes:
    def __init__(self) -> None:
        self.calls: list[tuple[bool, bool]] = []

    @hookimpl
    def background_started(self, gateway, serving):
        self.calls.append((serving, gateway.runs_background))


def test_a_serving_process_with_workers_reports_serving(live_server) -> None:
    notes, quiet = Notes(), Notes()
    serving = live_server(plugins=[notes])
    api_only = live_server(plugins=[quiet], background=False)
    assert notes.calls == [(True, True)] and serving.gateway.runs_background
    assert quiet.calls == [] and not api_only.gateway.runs_background


async def test_a_started_gateway_runs_no_background_until_asked(tmp_path) -> None:
    notes = Notes()
    gateway = Gateway(make_settings(tmp_path), plugins=[notes], load_entrypoints=False)
    async with gateway:
        await asyncio.sleep(0)
        assert notes.calls == [] and not gateway.runs_background
        gateway.start_background(workers=0)
        assert notes.calls == [(False, True)]
        await gateway.stop_background()
        assert not gateway.runs_background
