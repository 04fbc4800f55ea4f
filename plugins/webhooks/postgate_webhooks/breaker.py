"""Per-URL circuit breakers: a URL that keeps failing is left alone for a while, so its
deliveries wait in storage instead of holding connections the other URLs need."""

from __future__ import annotations

from dataclasses import dataclass

#: Longest pause of a failing URL.
MAX_PAUSE = 600.0


@dataclass(slots=True)
class _State:
    failures: int = 0
    open_until: float = 0.0
    pause: float = 0.0


class Breakers:
    """Consecutive failures per URL; after ``threshold`` of them the URL is open (skipped) for
    ``pause`` seconds, doubling on each failed trial up to :data:`MAX_PAUSE`. Once the pause is
    over, one trial POST at a time decides: success closes it."""

    def __init__(self, threshold: int, pause: float) -> None:
        self.threshold = threshold
        self.first_pause = pause
        self._states: dict[str, _State] = {}

    def is_open(self, url: str, now: float) -> bool:
        state = self._states.get(url)
        return state is not None and state.open_until > now

    def on_trial(self, url: str, now: float) -> bool:
        """Whether ``url`` is past an open period (one POST at a time decides)."""
        state = self._states.get(url)
        return state is not None and state.failures >= self.threshold and state.open_until <= now

    def open_urls(self, now: float) -> list[str]:
        return [url for url, state in self._states.items() if state.open_until > now]

    def succeeded(self, url: str) -> None:
        self._states.pop(url, None)

    def failed(self, url: str, now: float) -> float | None:
        """Count a failure; returns the time the URL stays open until, when this opened it."""
        state = self._states.setdefault(url, _State())
        state.failures += 1
        if state.failures < self.threshold or state.open_until > now:  # POSTs still in flight
            return None
        state.pause = min(MAX_PAUSE, state.pause * 2 if state.pause else self.first_pause)
        state.open_until = now + state.pause
        return state.open_until
