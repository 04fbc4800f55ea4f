"""The events queue's hot SQS calls without boto3: signed JSON ``POST``-s over a pooled async client.

botocore spends about 0.2 ms of CPU per received event on ``ReceiveMessage`` and
``DeleteMessageBatch`` (10 messages a call, SQS's limit) and needs a thread per call in flight.
:class:`SqsHttpClient` makes those calls (and ``ChangeMessageVisibilityBatch``) on the event loop
instead, in the AWS JSON 1.0 protocol botocore speaks to SQS: ``POST /`` to the endpoint with
``X-Amz-Target: AmazonSQS.<Operation>``, ``x-amzn-query-mode: true`` and the operation's
parameters as the JSON body, signed with AWS Signature Version 4 over the same headers botocore
signs (:func:`sign`; the tests compare the two), over an ``aiohttp.ClientSession`` whose
connections stay open. Endpoint, region, signing name and user agent come once from the boto3
SQS client the source builds anyway; credentials are the standard chain's, frozen per call, and
renewed in a thread when botocore would renew them (that may ask STS or the instance metadata
service).

Like botocore's ``standard`` retry mode, a call is tried up to :data:`ATTEMPTS` times when the
connection failed or timed out, or SQS answered a 5xx or a throttling error (the same codes). Other errors raise
:class:`SqsAnswerError`, its code read as botocore reads it (``x-amzn-query-error``, else the
``__type`` of the body); transport failures surface as aiohttp's own exceptions.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import orjson

from .http_send import SesAnswerError, canonical_host, pooled_session, user_agent
from .sigv4 import ALGORITHM, SigV4Signer

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "AmazonSQS."
#: Tries of one call (the first one included), as botocore's ``standard`` retry mode.
ATTEMPTS = 3
#: Longest pause before a retry, seconds (the first is at most a tenth of a second, then doubled).
MAX_BACKOFF = 2.0
#: What botocore's ``standard`` retry mode tries again: these error codes (throttling and
#: transient ones) and these HTTP statuses, besides connection failures and timeouts.
RETRIED_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
    "PriorRequestNotComplete", "EC2ThrottledException", "RequestTimeout", "RequestTimeoutException",
})
RETRIED_STATUSES = frozenset({500, 502, 503, 504})


class SqsAnswerError(SesAnswerError):
    """SQS answered with an error (``code``, ``message``, HTTP ``status``, as SES's errors carry)."""

    @property
    def retryable(self) -> bool:
        return self.status in RETRIED_STATUSES or self.code in RETRIED_CODES


def parse_error(status: int, headers: Any, body: bytes) -> SqsAnswerError:
    """An error answer read as botocore reads an SQS JSON error (the query-compatible code first)."""
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    message = str(parsed.get("message") or parsed.get("Message") or "")
    code = (headers.get("x-amzn-query-error") or "").split(";", 1)[0]
    if not code:
        code = str(parsed.get("__type") or parsed.get("code") or status).rsplit("#", 1)[-1]
    return SqsAnswerError(code, message, status)


def parse_answer(content: bytes) -> Any:
    """A 2xx answer's JSON: orjson's parse, or the standard library's for what orjson refuses (a
    message body with a lone surrogate must still reach the source, which deletes it as malformed)."""
    if not content:
        return {}
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def sign(signer: SigV4Signer, headers: dict[str, str], body: bytes, credentials: Any, now: datetime) -> None:
    """Add ``X-Amz-Date``, the session token (if any) and ``Authorization`` to ``headers``, signing
    ``Host`` and every header already there, as botocore's ``SigV4Auth`` signs a ``POST`` with no
    query string. ``now`` is in UTC."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    headers["X-Amz-Date"] = stamp
    if credentials.token:
        headers["X-Amz-Security-Token"] = credentials.token
    signed = sorted((name.lower(), " ".join(value.split())) for name, value in
                    [*headers.items(), ("host", signer.host)])
    names = ";".join(name for name, _ in signed)
    canonical = "".join(f"{name}:{value}\n" for name, value in signed)
    request = f"POST\n{signer.path}\n\n{canonical}\n{names}\n{hashlib.sha256(body).hexdigest()}"
    scope = f"{day}/{signer.region}/{signer.service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
    signature = hmac.new(signer.signing_key(credentials.secret_key, day), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
                                f"SignedHeaders={names}, Signature={signature}")


class SqsHttpClient:
    """SQS's JSON calls over a pooled ``aiohttp.ClientSession``, configured from a boto3 SQS client.

    Build it on the event loop that calls it (the session belongs to that loop)."""

    def __init__(self, boto_client: Any, credentials: Any, *, connections: int, connect_timeout: float,
                 read_timeout: float) -> None:
        import aiohttp

        meta = boto_client.meta
        self.url = meta.endpoint_url.rstrip("/") + "/"
        self.credentials = credentials  # botocore (Refreshable)Credentials, or None
        self.signer = SigV4Signer(canonical_host(self.url), urlsplit(self.url).path, meta.region_name,
                                  meta.service_model.signing_name)
        self.user_agent = user_agent(meta.config.user_agent_appid)
        self.http = pooled_session(connections, connect_timeout, read_timeout)
        self._transport_errors: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError)

    async def receive_message(self, **params: Any) -> dict[str, Any]:
        return await self.call("ReceiveMessage", params)

    async def delete_message_batch(self, **params: Any) -> dict[str, Any]:
        return await self.call("DeleteMessageBatch", params)

    async def change_message_visibility_batch(self, **params: Any) -> dict[str, Any]:
        return await self.call("ChangeMessageVisibilityBatch", params)

    async def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """One SQS operation (retried like botocore's standard mode); its parsed answer."""
        body = json.dumps(params, separators=(",", ":")).encode()
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._post(operation, body)
            except SqsAnswerError as exc:
                if not exc.retryable or attempt == ATTEMPTS:
                    raise
            except self._transport_errors:
                if attempt == ATTEMPTS:
                    raise
            await asyncio.sleep(random.uniform(0, min(MAX_BACKOFF, 0.1 * 2 ** (attempt - 1))))  # noqa: S311
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, operation: str, body: bytes) -> dict[str, Any]:
        headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET_PREFIX + operation,
                   "x-amzn-query-mode": "true"}
        sign(self.signer, headers, body, await self._frozen(), datetime.now(timezone.utc))
        headers["User-Agent"] = self.user_agent
        async with self.http.post(self.url, data=body, headers=headers) as response:
            content = await response.read()
            if 200 <= response.status < 300:
                answer = parse_answer(content)
                return answer if isinstance(answer, dict) else {}
            raise parse_error(response.status, response.headers, content)

    async def _frozen(self) -> Any:
        """The credentials to sign with now; renewed in a thread when they are due."""
        if self.credentials is None:
            from botocore.exceptions import NoCredentialsError

            raise NoCredentialsError()
        refresh_needed = getattr(self.credentials, "refresh_needed", None)
        if refresh_needed is not None and refresh_needed():
            return await asyncio.to_thread(self.credentials.get_frozen_credentials)
        return self.credentials.get_frozen_credentials()

    async def aclose(self) -> None:
        await self.http.close()
