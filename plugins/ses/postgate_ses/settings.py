"""The ``[plugins.ses]`` table: one settings model for delivery, events and set-up."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: With ``send_client = "http"`` the calls wait on the event loop, not in threads: this many per thread.
HTTP_IN_FLIGHT_PER_THREAD = 4


class SesSettings(BaseModel):
    """Settings of the SES plugin (``POSTGATE_PLUGINS__SES__<KEY>`` in the environment)."""

    model_config = ConfigDict(extra="forbid")

    # -- AWS ----------------------------------------------------------------------------------
    region: str = Field("us-east-1", description="AWS region of SES, SNS and the events queue")
    endpoint_url: str | None = Field(None, description="AWS endpoint override (moto, LocalStack); default: AWS")
    configuration_set: str = Field("postgate", description="SES configuration set that publishes events")

    # -- delivery -----------------------------------------------------------------------------
    send_threads: int = Field(8, ge=1, description="bounded thread pool for SendEmail calls")
    send_client: Literal["http", "boto3"] = Field(
        "http", description="SendEmail over a pooled async HTTP client with its own SigV4 signing (http), or boto3 in threads"
    )
    send_in_flight: int | None = Field(
        None, ge=1, description="SendEmail calls in flight per process (a crash leaves at most this many in doubt); "
        "default: send_threads with boto3, 4 x send_threads with http"
    )
    send_timeout: float = Field(30.0, gt=0, description="read timeout of one SendEmail call, seconds")
    connect_timeout: float = Field(5.0, gt=0, description="connect timeout of every AWS call, seconds")
    read_timeout: float = Field(30.0, gt=0, description="read timeout of AWS calls other than sends, seconds")
    concurrency: int = Field(4, ge=1, description="send() calls a worker keeps in flight (each runs its messages in parallel)")
    max_send_rate: float | None = Field(None, gt=0, description="messages/s; default: GetAccount MaxSendRate x rate_fraction")
    rate_fraction: float = Field(0.9, gt=0, le=1, description="share of the account's MaxSendRate to use")
    quota_refresh_seconds: float = Field(300, gt=0, description="how often GetAccount is read again")
    bulk: bool = Field(False, description="send with SendBulkEmail (inline template, <=50 entries) instead of SendEmail")
    in_doubt_grace_seconds: float = Field(
        300, gt=0, description="after this, a send with no SES event at all is taken as not accepted and retried"
    )
    tracking_overrides: bool = Field(
        True, description="send o:tracking-opens/clicks as SendEmail ConfigurationOverrides.Tracking (if the SDK has it)"
    )
    rate_recovery_per_second: float = Field(
        0.05, gt=0, le=1, description="after a throttle halves the rate, share of it won back per second"
    )
    paused_retry_seconds: float = Field(
        300, gt=0, description="after SendingPaused, AccountSuspended or a configuration error, wait this long before trying SES again"
    )
    quota_retry_seconds: float = Field(
        900, gt=0, description="after 'Daily message quota exceeded', wait this long before reading the quota again"
    )

    def in_flight(self) -> int:
        """Most ``SendEmail`` calls one process has in flight (``send_in_flight``, or its default)."""
        if self.send_in_flight is not None:
            return self.send_in_flight
        return self.send_threads * (HTTP_IN_FLIGHT_PER_THREAD if self.send_client == "http" else 1)

    # -- events -------------------------------------------------------------------------------
    events_queue_url: str | None = Field(None, description="SQS queue SES events arrive on (via SNS); None: no pull")
    events_wait_seconds: int = Field(20, ge=0, le=20, description="SQS long-poll wait for events")
    events_visibility_timeout: int = Field(60, ge=1, description="seconds an events message stays hidden while handled")
    events_client: Literal["http", "boto3"] = Field(
        "http", description="ReceiveMessage/DeleteMessageBatch signed by the plugin over a pooled async HTTP client (http), or boto3 in threads"
    )
    sns_endpoint: bool = Field(False, description="serve POST /ses/sns for SNS HTTPS push")
    sns_topic_arns: list[str] = Field(default_factory=list, description="topics accepted by the SNS endpoint")
    transient_bounce_threshold: int = Field(
        3, ge=1, description="transient bounces of one address (within 30 days) before it is suppressed"
    )
    unmatched_retry_seconds: float = Field(
        600, gt=0, description="how long an event whose message is not (yet) in the ledger is retried before it is parked"
    )
    sns_max_age_seconds: float = Field(
        3600, gt=0, description="SNS HTTPS messages whose signed Timestamp is older than this are refused (replays)"
    )
    sns_clock_skew_seconds: float = Field(
        300, ge=0, description="SNS HTTPS messages whose signed Timestamp is further in the future than this are refused"
    )

    # -- set-up (postgate aws bootstrap) ------------------------------------------------------
    topic_name: str = Field("postgate-ses-events", description="SNS topic SES publishes events to")
    events_queue_name: str = Field("postgate-ses-events", description="SQS queue subscribed to the topic")
    sending_domain: str | None = Field(None, description="domain identity to check and print DNS records for")
    jobs_queue_name: str = Field(
        "postgate-jobs", description="SQS jobs queue bootstrap creates when [plugins.sqs] names no queue_url"
    )
    max_receive_count: int = Field(
        5, ge=1, le=1000, description="receives of one SQS message before it moves to its dead-letter queue"
    )
    mail_from_domain: str | None = Field(
        None, description="custom MAIL FROM subdomain (e.g. bounce.example.com) to print DNS records for"
    )
    tracking_redirect_domain: str | None = Field(
        None, description="custom open/click tracking domain set on the configuration set by bootstrap"
    )
    tracking_https_policy: Literal["OPTIONAL", "REQUIRE", "REQUIRE_OPEN_ONLY"] = Field(
        "OPTIONAL", description="HttpsPolicy of the custom tracking domain"
    )
