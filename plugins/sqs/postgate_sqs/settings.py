"""The ``[plugins.sqs]`` table: which queue, which AWS endpoint, and how jobs are leased."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

#: ``https://sqs.<region>.amazonaws.com/<account>/<name>`` (and the ``queue.amazonaws.com`` forms).
_AWS_QUEUE_URL = re.compile(r"^https?://sqs[.-]([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/", re.IGNORECASE)


class SqsSettings(BaseModel):
    """Settings of the SQS queue (``POSTGATE_PLUGINS__SQS__<KEY>`` in the environment)."""

    model_config = ConfigDict(extra="forbid")

    queue_url: str | None = Field(
        None, description='URL of the jobs queue; required when backends.queue = "sqs"'
    )
    region: str | None = Field(
        None, description="AWS region; default: the one in an AWS queue URL, else the AWS environment"
    )
    endpoint_url: str | None = Field(
        None, description="AWS endpoint override (moto, LocalStack); default: AWS"
    )
    wait_seconds: int = Field(20, ge=0, le=20, description="longest SQS long poll (WaitTimeSeconds)")
    visibility_timeout: int = Field(
        60, ge=1, le=43200, description="seconds a received job stays hidden from other workers per lease"
    )
    max_messages: int = Field(10, ge=1, le=10, description="messages asked for per ReceiveMessage call")
    threads: int = Field(10, ge=2, description="bounded thread pool for SQS calls (long polls hold one each)")
    heartbeat: bool = Field(
        True, description="extend a leased job's visibility every third of the timeout until ack/nack"
    )
    heartbeat_limit: float = Field(
        21600, gt=0, le=42000,
        description="seconds after which the automatic heartbeat of one lease gives up (SQS: < 12 h)",
    )
    dead_letter_queue_url: str | None = Field(
        None, description="the queue's dead-letter queue (default: its redrive policy's target); "
        "dead-lettered jobs go there and its depth is reported by readiness and doctor"
    )
    dead_letter_peek_seconds: int = Field(
        30, ge=1, le=43200,
        description="seconds a dead letter stays hidden while `postgate jobs` lists or re-drives",
    )
    max_receive_count_warning: int = Field(
        3, ge=1, description="log a warning when a job has been received this many times"
    )

    def resolved_region(self) -> str | None:
        """``region``, else the region named by an AWS queue URL, else ``None`` (boto3 decides)."""
        if self.region:
            return self.region
        match = _AWS_QUEUE_URL.match(self.queue_url or "")
        return match.group(1).lower() if match else None
