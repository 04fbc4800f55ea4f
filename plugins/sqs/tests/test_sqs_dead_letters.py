"""A batch that can never be sent, on the ``sqs`` queue (moto): the worker dead-letters its job into
the queue's DLQ with failed events; ``postgate jobs`` lists and retries it from there."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from postgate.cli import cli
from postgate.testing.dead_letters import scenario
from postgate.testing.fixtures import TEST_DOMAIN, TEST_KEY
from postgate_sqs.queue import SqsQueue

MAX_FAILURES = 3


async def test_dead_letters_on_sqs(aws, gateway_factory, caplog):
    sqs = aws.client("sqs")
    dlq_url = sqs.create_queue(QueueName="postgate-jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url,
                                       AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="postgate-jobs", Attributes={
        "VisibilityTimeout": "30",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 10})})["QueueUrl"]
    sqs_settings = {"queue_url": url, "endpoint_url": aws.url, "region": "us-east-1",
                    "visibility_timeout": 30, "wait_seconds": 1}
    gateway = gateway_factory(
        load_entrypoints=True, load_plugins=["sqs"], backends={"queue": "sqs"},
        plugin_settings={"sqs": sqs_settings},
        gateway={"lease_seconds": 5, "job_max_failures": MAX_FAILURES, "job_backoff": 0.05,
                 "job_backoff_max": 0.2},
    )
    await gateway.start()
    assert isinstance(gateway.queue, SqsQueue)
    env = {"POSTGATE_DATA_DIR": str(gateway.settings.data_dir), "POSTGATE_DOMAIN": TEST_DOMAIN,
           "POSTGATE_API_KEY": TEST_KEY, "POSTGATE_LOAD_PLUGINS": json.dumps(["sqs"]),
           "POSTGATE_BACKENDS__QUEUE": "sqs", "POSTGATE_PLUGINS__SQS": json.dumps(sqs_settings)}

    async def run(args: list[str]) -> tuple[int, str]:
        result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)
        return result.exit_code, result.output

    await scenario(gateway, run, caplog, MAX_FAILURES)
    # The dead letters were in the DLQ itself, not in a table of Postgate's.
    assert int(sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
               ["Attributes"]["ApproximateNumberOfMessages"]) == 1
