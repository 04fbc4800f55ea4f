"""Failed sign-ins per client address, counted in memory over a sliding window."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class AddressThrottle:
    """Refuses an address after ``limit`` failures within ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, address: str) -> deque[float]:
        failures = self._failures[address]
        cutoff = time.monotonic() - self.window
        while failures and failures[0] < cutoff:
            failures.popleft()
        return failures

    def blocked(self, address: str) -> bool:
        return len(self._recent(address)) >= self.limit

    def failed(self, address: str) -> None:
        self._recent(address).append(time.monotonic())
        if len(self._failures) > 100_000:  # keep memory bounded under a spray
            self._failures.clear()
