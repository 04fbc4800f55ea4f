"""Built-in plugin: the ``local`` queue backend, kept in the gateway's storage.

Jobs are rows of the storage's queue table, so they are as durable as the storage and every worker
loop and process sharing that storage shares the queue. A received job is leased for
``visibility_timeout`` seconds (default: the gateway's ``lease_seconds``); a worker renews the lease
with :meth:`~LocalQueue.extend` and an expired lease makes the job visible again. A dead-lettered
job stays in the table with ``dead_at`` set until it is re-driven.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from ..backends import Queue
from ..domain import DeadJob, Job
from ..hookspecs import hookimpl


class LocalQueueSettings(BaseModel):
    """``[plugins.local_queue]``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("default", min_length=1, description="queue name inside the storage")
    poll_interval: float = Field(0.2, gt=0, description="seconds between polls while receive() waits")
    visibility_timeout: float | None = Field(
        None, gt=0, description="lease of a received job (default: gateway.lease_seconds)"
    )


class LocalQueue(Queue):
    """:class:`~postgate.backends.Queue` on the storage's queue-job methods."""

    name = "local"

    def __init__(self, gateway) -> None:
        super().__init__(gateway)
        settings: LocalQueueSettings = gateway.plugin_settings("local_queue")
        self.queue_name = settings.name
        self.poll_interval = settings.poll_interval
        self.lease = settings.visibility_timeout or gateway.settings.gateway.lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    @property
    def storage(self):
        return self.gateway.storage

    async def put(self, jobs: Sequence[Job]) -> None:
        if jobs:
            await self.storage.enqueue_jobs(self.queue_name, list(jobs))

    async def receive(self, max_jobs: int, wait: float) -> list[Job]:
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            jobs = await self.storage.lease_jobs(self.queue_name, self.owner, max_jobs, self.lease, time.time())
            remaining = deadline - time.monotonic()
            if jobs or remaining <= 0:
                return jobs
            await asyncio.sleep(min(self.poll_interval, remaining))

    async def extend(self, job: Job) -> None:
        await self.storage.extend_job(job, self.owner, self.lease, time.time())

    async def ack(self, jobs: Sequence[Job]) -> None:
        if jobs:
            await self.storage.delete_jobs(list(jobs))

    async def nack(self, job: Job, delay: float) -> None:
        await self.storage.release_job(job, time.time() + max(0.0, delay))

    async def depth(self) -> int | None:
        return await self.storage.count_jobs(self.queue_name)

    async def oldest_age(self) -> float | None:
        summary = await self.storage.job_summary(self.queue_name)
        if summary is None or summary.oldest_created_at is None:
            return None
        return max(0.0, time.time() - summary.oldest_created_at)

    async def dead_letter_depth(self) -> int | None:
        summary = await self.storage.job_summary(self.queue_name)
        return None if summary is None else summary.dead

    async def fail(self, job: Job, delay: float, reason: str) -> None:
        job.failures = await self.storage.fail_job(job, time.time() + max(0.0, delay), reason)

    async def dead_letter(self, job: Job, reason: str) -> None:
        await self.storage.bury_job(job, reason, time.time())

    async def list_dead(self, limit: int = 100) -> list[DeadJob]:
        return await self.storage.dead_jobs(self.queue_name, limit)

    async def get_dead(self, dead_id: str) -> DeadJob | None:
        return await self.storage.find_dead_job(self.queue_name, dead_id)

    async def redrive(self, dead_id: str) -> DeadJob | None:
        return await self.storage.revive_job(self.queue_name, dead_id, time.time())


@hookimpl(trylast=True)
def register_queues(register):
    register("local", LocalQueue)


@hookimpl(trylast=True)
def register_settings(register):
    register("local_queue", LocalQueueSettings)
