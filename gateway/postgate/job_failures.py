"""What a worker does with a job that raised: classify the failure, back off, log it once.

Three kinds of failure (:func:`failure_kind`):

- ``permanent``: no attempt can ever succeed (the stored batch cannot be decoded,
  :class:`BatchUnreadable`). The job is dead-lettered at once.
- ``transient``: the infrastructure, not the job, failed (storage or queue unreachable or
  locked, a connection reset or timed out, a provider or AWS throttling or answering 5xx, or an
  exception with a true ``transient`` attribute). The job is retried with backoff and never
  dead-lettered for it: an outage must not bury every job in flight.
- ``error``: anything else, e.g. a bug an input triggers. Counted durably by the queue; the job is
  retried with backoff and dead-lettered when the count reaches ``gateway.job_max_failures``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable
from typing import Literal

FailureKind = Literal["permanent", "transient", "error"]

#: Class names (anywhere in the MRO) of storage and network errors that mean an outage.
TRANSIENT_CLASS_NAMES = frozenset({
    "DBConnectionError", "OperationalError", "TransactionManagementError",  # tortoise, DB-API drivers
    "EndpointConnectionError", "ConnectionClosedError", "ConnectTimeoutError", "ReadTimeoutError",
    "HTTPClientError",  # botocore
})
#: DB-API errors about the data or the statement, never an outage (tortoise wraps some of them in
#: its ``OperationalError`` on MySQL, so the wrapped error is looked at too).
NOT_TRANSIENT_CLASS_NAMES = frozenset({"DataError", "ProgrammingError", "NotSupportedError",
                                       "IntegrityError"})
#: Error codes of AWS-style answers that mean "slow down" or "try again".
TRANSIENT_ERROR_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown",
    "ServiceUnavailable", "InternalError", "InternalFailure", "RequestTimeout",
    "ProvisionedThroughputExceededException",
})

#: Longest failure description kept with a dead job and put in events.
DESCRIPTION_LIMIT = 500


class BatchUnreadable(Exception):
    """The stored content of a batch cannot be decoded: every attempt would fail the same way."""


def failure_kind(exc: BaseException) -> FailureKind:
    """``permanent``, ``transient`` or ``error`` (see the module docstring)."""
    if isinstance(exc, BatchUnreadable):
        return "permanent"
    if _is_transient(exc):
        return "transient"
    return "error"


def _is_transient(exc: BaseException) -> bool:
    if getattr(exc, "transient", False) is True:
        return True
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & TRANSIENT_CLASS_NAMES:
        wrapped = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc.__context__
        inner = {cls.__name__ for cls in type(wrapped).__mro__} if wrapped is not None else set()
        return not (inner | names) & NOT_TRANSIENT_CLASS_NAMES
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error")
        code = error.get("Code") if isinstance(error, dict) else None
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if code in TRANSIENT_ERROR_CODES or (isinstance(status, int) and (status == 429 or status >= 500)):
            return True
    return False


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line, bounded: safe for a log line, a column and an event."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= DESCRIPTION_LIMIT else text[:DESCRIPTION_LIMIT - 1] + "…"


def backoff(failures: int, base: float, cap: float) -> float:
    """Delay before the next attempt after ``failures`` failures: ``base`` doubling, at most ``cap``."""
    if failures <= 0 or base <= 0:
        return 0.0
    return min(cap, base * 2.0 ** min(failures - 1, 60))


class SeenOnce:
    """A bounded memory of keys: :meth:`first` is true the first time a key is offered."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    def first(self, key: Hashable) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True

    def forget(self, prefix: Hashable) -> None:
        """Drop every key whose first element is ``prefix`` (a job that ended)."""
        for key in [k for k in self._seen if isinstance(k, tuple) and k and k[0] == prefix]:
            del self._seen[key]
