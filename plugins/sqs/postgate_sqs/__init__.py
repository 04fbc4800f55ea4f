"""postgate-sqs: the ``sqs`` queue backend (jobs as references on an Amazon SQS queue)."""

from postgate import hookimpl


@hookimpl
def register_settings(register):
    from .settings import SqsSettings

    register("sqs", SqsSettings)


@hookimpl
def register_queues(register):
    from .queue import SqsQueue

    register("sqs", SqsQueue)


@hookimpl
def health_checks(gateway):
    from postgate import HealthCheck

    from .queue import SqsQueue

    queue = gateway.queue
    if isinstance(queue, SqsQueue) and queue.settings.dead_letter_queue_url:
        return [HealthCheck("sqs_dead_letter_queue", queue.check_dead_letters)]
    return None
