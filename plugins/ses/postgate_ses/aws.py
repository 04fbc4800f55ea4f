"""boto3 clients for the SES plugin, built one way for every module that talks to AWS.

Two kinds of client:

- **send clients** (``ses_client(settings, sending=True)``): botocore's automatic retries are off
  (``total_max_attempts=1``). A retried ``SendEmail`` after a read timeout is a second email: the
  recipient ledger owns retries, and a call whose answer was lost is settled from SES events
  before anything is sent again (contract §1.7, §6.2). The read timeout is
  ``send_timeout`` and the connection pool is as large as the send thread pool.
- **read clients** (everything else): botocore's default ``standard`` retries, because reads
  (``GetAccount``, ``ReceiveMessage``, set-up calls) are idempotent.

Clients are thread-safe once built, but building one is not: each is made from its own
``boto3.session.Session``. Credentials come from the usual AWS chain (environment, profile,
instance or task role); ``endpoint_url`` points every client at moto or LocalStack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import SesSettings

#: Connections a read client keeps open (reads are few and short).
READ_POOL = 10


def client_config(settings: SesSettings, *, sending: bool = False) -> Any:
    """The ``botocore.config.Config`` for a send or a read client."""
    from botocore.config import Config

    if sending:
        return Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.send_timeout,
            max_pool_connections=max(1, settings.send_threads),
            user_agent_extra="postgate-ses",
        )
    return Config(
        retries={"mode": "standard"},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=READ_POOL,
        user_agent_extra="postgate-ses",
    )


def client(service: str, settings: SesSettings, *, sending: bool = False) -> Any:
    """A boto3 client for ``service`` in the configured region and endpoint."""
    import boto3

    session = boto3.session.Session()
    return session.client(
        service,
        region_name=settings.region,
        endpoint_url=settings.endpoint_url or None,
        config=client_config(settings, sending=sending),
    )


def credentials() -> Any:
    """The standard chain's credentials (botocore ``Credentials``, refreshable where the source
    expires them; ``None`` when the chain finds none). Blocking: it may ask an instance role."""
    import boto3

    return boto3.session.Session().get_credentials()


def ses_client(settings: SesSettings, sending: bool = False) -> Any:
    """An SES v2 (``sesv2``) client; ``sending=True`` for ``SendEmail``/``SendBulkEmail``."""
    return client("sesv2", settings, sending=sending)


def ses_v1_client(settings: SesSettings) -> Any:
    """An SES v1 (``ses``) read client (``GetSendQuota``, the fallback of ``GetAccount``)."""
    return client("ses", settings)


def sqs_client(settings: SesSettings) -> Any:
    """An SQS read client (the events queue)."""
    return client("sqs", settings)


def sns_client(settings: SesSettings) -> Any:
    """An SNS read client (topics and subscriptions)."""
    return client("sns", settings)


def operation_has_member(client_: Any, operation: str, *path: str) -> bool:
    """Whether the installed botocore model of ``operation`` has the nested input member ``path``.

    ``operation_has_member(c, "SendEmail", "ConfigurationOverrides", "Tracking")`` tells whether
    per-request tracking can be sent with this SDK (older models lack it).
    """
    model = client_.meta.service_model
    if operation not in model.operation_names:
        return False
    shape = model.operation_model(operation).input_shape
    for name in path:
        members = getattr(shape, "members", None) or {}
        if name not in members:
            return False
        shape = members[name]
    return True


def error_code(exc: BaseException) -> tuple[str, str, int]:
    """``(code, message, http_status)`` of a botocore ``ClientError`` (``("", str(exc), 0)`` else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", str(exc), 0
    error = response.get("Error") or {}
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    return str(error.get("Code") or ""), str(error.get("Message") or ""), status
