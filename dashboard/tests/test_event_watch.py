"""When the Operations page says provider events stopped: only while sending, only past the
threshold, counted from the newest provider event or, with none, from when sending started."""

from __future__ import annotations

from types import SimpleNamespace

from postgate_dashboard.web.event_watch import Silence, silence

NOW = 10_000.0


def batch(created_at: float) -> SimpleNamespace:
    return SimpleNamespace(created_at=created_at)


def test_nothing_sending_is_never_silent() -> None:
    assert silence("d", None, [], NOW, 60) is None
    assert silence("d", NOW - 9999, [], NOW, 60) is None


def test_a_recent_event_is_not_silence() -> None:
    assert silence("d", NOW - 30, [batch(NOW - 5000)], NOW, 60) is None


def test_an_old_event_while_sending_is() -> None:
    assert silence("d", NOW - 600, [batch(NOW - 5000)], NOW, 60) == Silence("d", 600, True)


def test_no_event_ever_counts_from_the_oldest_batch_sending() -> None:
    assert silence("d", None, [batch(NOW - 10), batch(NOW - 30)], NOW, 60) is None
    assert silence("d", None, [batch(NOW - 10), batch(NOW - 90)], NOW, 60) == Silence("d", 90, False)
