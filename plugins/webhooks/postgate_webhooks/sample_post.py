"""The sample POST of ``PUT /v3/domains/<name>/webhooks/<webhook>/test``: one signed sample event
to one URL, never retried, judged and timed like a delivery's attempt and recorded in the attempts
log marked as a test (``webhooks_attempts.test``, no delivery behind it)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .poster import Answer, PinnedResolver, body_for, new_session, post
from .queue import log_test
from .targets import TargetRefused, resolve_target

#: The event id of every sample (receivers can tell a test from an event by it).
TEST_EVENT_ID = "test-event"


@dataclass(frozen=True, slots=True)
class SampleResult:
    """What the sample POST came to, as the log keeps it."""

    at: float
    status_code: int | None
    outcome: str  # delivered (2xx), failed (any other answer, or none) or refused (the SSRF guard)
    error: str = ""
    duration_ms: float | None = None  # none when no POST was made

    @property
    def message(self) -> str:
        """The API's answer text (Mailgun's wording)."""
        return "Test webhook sent" if self.outcome == "delivered" else f"Test webhook failed: {self.error}"


def sample_event(webhook: str, domain: str, now: float) -> dict[str, Any]:
    """The sample event POSTed for ``webhook`` (the ``*_fail`` webhooks get a ``failed`` event
    with its severity)."""
    failing = webhook.endswith("_fail")
    sample: dict[str, Any] = {"event": "failed" if failing else webhook, "id": TEST_EVENT_ID, "timestamp": now,
                              "recipient": "alice@example.com", "domain": {"name": domain}}
    if failing:
        sample["severity"] = webhook.split("_")[0]
    return sample


async def send_sample(url: str, event: dict[str, Any], key: str, allow_private: bool,
                      timeout_seconds: float) -> SampleResult:
    """Resolve and check ``url``'s host, POST the signed ``event`` on a session of its own, judge
    the answer. The duration runs as a delivery's does: from the start (the name resolution
    included) until the answer was read or the POST failed."""
    started = time.perf_counter()
    try:
        target = await resolve_target(url, allow_private)
    except TargetRefused as exc:  # no POST made: no duration
        return SampleResult(time.time(), None, "refused", str(exc))
    except (OSError, UnicodeError) as exc:
        answer = Answer(None, f"cannot resolve the host: {exc}")
    else:
        resolver = PinnedResolver()
        resolver.pin(target)
        async with new_session(1, timeout_seconds, resolver) as session:
            answer = await post(session, target, body_for(key, json.dumps(event), time.time()))
    duration_ms = (time.perf_counter() - started) * 1000
    return SampleResult(time.time(), answer.status, "delivered" if answer.ok else "failed", answer.error, duration_ms)


async def record_test(storage: Any, domain: str, webhook: str, url: str, result: SampleResult) -> None:
    """One attempts-log row for the sample POST, marked as a test."""
    async with storage.session(write=True) as db:
        await log_test(db, (result.at, domain, webhook, url, TEST_EVENT_ID, result.status_code, result.outcome,
                            result.error[:255], None if result.duration_ms is None else round(result.duration_ms, 3)))
