"""Two ``postgate worker`` processes share one SES send rate (issue 8 §5), checked for
correctness, not speed: the stack of ``python -m bench --only scaleout`` (``bench/scaleout.py``)
with a binding ``max_send_rate``, the jobs queue on moto's SQS, MariaDB storage and the local SES
stand-in, which records when each send arrived and for whom.
"""

from __future__ import annotations

import asyncio

import pytest

from bench.scaleout import ScaleoutStack, run_scaleout
from postgate.testing.mariadb import create_database, drop_database
from postgate_ses.standin import SesStandin

RATE = 20
RECIPIENTS = 150


@pytest.fixture
def stack(aws, tmp_path):
    """The API process up, no workers yet; everything stopped and dropped afterwards."""
    url = asyncio.run(create_database("postgate_e2e_scaleout"))
    standin = SesStandin().start()
    made = None
    try:
        # One job per worker at a time: the three jobs of 50 rows spread over both processes.
        made = ScaleoutStack(tmp_path, aws_url=aws.url, mysql_url=url, standin=standin, jobs_per_worker=1)
        made.migrate()
        made.start_api()
        yield made
    finally:
        if made is not None:
            made.close()
        standin.stop()
        asyncio.run(drop_database(url))


def test_two_worker_processes_send_everyone_once_and_never_above_the_rate(stack):
    run = run_scaleout(stack, workers=2, rate=RATE, recipients=RECIPIENTS)

    assert (run.missing, run.duplicates, run.sends) == (0, 0, RECIPIENTS)
    # Both processes sent: the rate was shared, not kept by one worker alone.
    assert sorted(run.per_worker) == ["worker1", "worker2"]
    assert min(run.per_worker.values()) > 0
    # No one-second window at the stand-in holds more sends than the rate.
    assert run.busiest_second <= RATE
