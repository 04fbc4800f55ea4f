"""Adaptive pacing of the relay's upstream send calls: slow down on 429, recover gradually.

A :class:`Pacer` (one per delivery backend, so per process) lets a send call start only when

- no pause is running: a 429 pauses every call for the ``Retry-After`` the upstream gave (else
  ``X-RateLimit-Reset``), but at least a backoff that starts at ``backoff`` seconds and doubles
  with each further 429 until a call succeeds, and at most ``max_pause`` seconds;
- fewer than :attr:`Pacer.allowed` calls are in flight: the limit (at most ``ceiling``, the
  backend's ``max_connections``) halves on a 429 and grows back by one call per ``limit``
  answered calls (AIMD). After a pause a single call probes the upstream; the others follow
  once it is answered with anything but 429.

A 429 answer to a call that started before the last cut is the same congestion and cuts nothing
more, so a burst of calls in flight together halves the limit once. A call that would wait longer
than ``max_wait`` raises :class:`Held` instead, before anything went out: the row goes back to the
ledger unsent (see ``docs/mailgun-relay.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping

#: An ``X-RateLimit-Reset`` above this is epoch milliseconds; above :data:`EPOCH_SECONDS`, epoch seconds.
EPOCH_MILLISECONDS = 1e11
EPOCH_SECONDS = 1e9


class Held(Exception):
    """The running pause ends later than a call may wait; ``seconds``: how long it still runs."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the upstream Mailgun asked to slow down (429): sending paused for {seconds:.0f} s more")
        self.seconds = seconds


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def wait_hint(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the upstream asks to wait, from ``Retry-After`` (seconds or an HTTP date), else
    ``X-RateLimit-Reset`` (epoch seconds, epoch milliseconds or seconds from now); ``None`` when
    neither is there and usable. ``now``: epoch seconds."""
    retry_after = headers.get("retry-after")
    if retry_after:
        seconds = _number(retry_after)
        if seconds is None:
            try:
                seconds = email.utils.parsedate_to_datetime(retry_after.strip()).timestamp() - now
            except (TypeError, ValueError, IndexError, OverflowError, OSError):
                seconds = None
        if seconds is not None:
            return max(0.0, seconds)
    reset = _number(headers.get("x-ratelimit-reset") or "")
    if reset is None:
        return None
    if reset > EPOCH_MILLISECONDS:
        reset = reset / 1000 - now
    elif reset > EPOCH_SECONDS:
        reset -= now
    return max(0.0, reset)


class Pacer:
    """Admits upstream calls (see the module documentation); ``clock`` is monotonic seconds."""

    def __init__(self, ceiling: int, *, backoff: float, max_pause: float, max_wait: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = ceiling
        self.first_backoff = backoff
        self.max_pause = max_pause
        self.max_wait = max_wait
        self.clock = clock
        self.limit = float(ceiling)
        self.in_flight = 0
        self.resume_at = 0.0
        self.probing = False  # after a 429: one call at a time until one is answered without 429
        self.backoff = 0.0  # the last pause taken without a hint (0: none since the last success)
        self.cut_at = -math.inf  # when the limit was last halved
        self.limited_calls = 0  # 429 answers seen
        self.cuts = 0  # times the limit was halved
        self._freed = asyncio.Event()

    @property
    def allowed(self) -> int:
        """Calls that may be in flight now."""
        return 1 if self.probing else max(1, int(self.limit))

    @property
    def factor(self) -> float:
        """The share of the full limit in use now (1.0 until the first 429)."""
        return max(1.0, self.limit) / self.ceiling

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[float]:
        """Wait for this call's turn (raises :class:`Held`); yields when it started (``clock``)."""
        await self._enter()
        try:
            yield self.clock()
        finally:
            self.in_flight -= 1
            self._freed.set()

    async def _enter(self) -> None:
        deadline = self.clock() + self.max_wait
        while True:
            now = self.clock()
            if self.resume_at > now:
                if self.resume_at > deadline:
                    raise Held(self.resume_at - now)
                await asyncio.sleep(self.resume_at - now)
            elif self.in_flight < self.allowed:
                self.in_flight += 1
                return
            else:
                self._freed.clear()
                await self._freed.wait()

    def answered(self, started: float) -> None:
        """A call that started at ``started`` was answered without 429: recover by one call per
        ``limit`` answers."""
        if started < self.cut_at:
            return  # sent before the last 429: says nothing about the rate since
        if self.probing:
            self.probing = False
            self._freed.set()
        self.backoff = 0.0
        self.limit = min(float(self.ceiling), self.limit + 1 / max(1.0, self.limit))

    def limited(self, started: float, hint: float | None) -> float | None:
        """A call that started at ``started`` got a 429 (``hint``: the upstream's wait, seconds).
        Returns the pause begun now (seconds), or ``None`` when the congestion was already known."""
        self.limited_calls += 1
        now = self.clock()
        fresh = started >= self.cut_at
        if fresh:
            self.backoff = min(self.max_pause, self.backoff * 2 if self.backoff else self.first_backoff)
            # The hint is honoured, but never below the backoff: a stale reset time is no licence.
            pause = min(self.max_pause, max(hint or 0.0, self.backoff))
        elif hint is None:
            return None
        else:  # the same congestion: only a longer hint extends the pause
            pause = min(self.max_pause, hint)
        self.resume_at = max(self.resume_at, now + pause)
        self.probing = True
        if not fresh:
            return pause
        self.limit = max(1.0, self.limit / 2)
        self.cut_at = now
        self.cuts += 1
        return pause
