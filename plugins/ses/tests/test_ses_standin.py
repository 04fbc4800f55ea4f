"""The local SES v2 stand-in of the scale-out bench and test: what it answers and records, and the
sliding-window count the rate checks rely on."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from postgate_ses import aws as ses_aws
from postgate_ses.delivery import read_quota
from postgate_ses.settings import SesSettings
from postgate_ses.standin import SesStandin, busiest_window

RAW = b"From: a@mg.example.com\r\nTo: b@example.com\r\nSubject: s\r\n\r\nbody\r\n"


@pytest.fixture(autouse=True)
def dummy_credentials(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def sesv2(url: str, app_id: str | None = None):
    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, user_agent_appid=app_id)
    return boto3.client("sesv2", endpoint_url=url, region_name="us-east-1", config=config,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.mark.parametrize(("times", "expected"), [
    ([], 0),
    ([5.0], 1),
    ([0.0, 0.5, 0.999, 1.0, 1.5, 1.9, 1.95], 5),  # [0.999, 1.999) holds the last five
    ([3.0, 1.0, 2.0, 0.0], 1),  # exactly one second apart: never in one half-open window
    ([2.0, 2.0, 2.0, 0.2], 3),
])
def test_busiest_window_counts_sends_within_any_half_open_second(times, expected):
    assert busiest_window(times) == expected


def test_busiest_window_of_other_widths():
    assert busiest_window([0.0, 0.4, 0.8, 1.2], seconds=0.5) == 2
    assert busiest_window([0.0, 0.4, 0.8, 1.2], seconds=2.0) == 4


def test_answers_send_email_and_records_who_when_and_which_client():
    with SesStandin() as standin:
        ses = sesv2(standin.url, app_id="worker7")
        ids = [ses.send_email(FromEmailAddress="a@mg.example.com", Destination={"ToAddresses": [to]},
                              Content={"Raw": {"Data": RAW}})["MessageId"] for to in ("b@example.com", "C@example.com")]
        sends = standin.sends()
        assert [s.recipient for s in sends] == ["b@example.com", "C@example.com"]
        assert [s.message_id for s in sends] == ids and len(set(ids)) == 2
        assert all("app/worker7" in s.agent for s in sends)
        assert sends[0].at <= sends[1].at
        assert standin.per_recipient() == {"b@example.com": 1, "c@example.com": 1}
        assert standin.busiest_second() == 2
        standin.clear()
        assert standin.count() == 0


def test_answers_get_account_as_the_ses_plugin_reads_it():
    with SesStandin(max_send_rate=250.0) as standin:
        settings = SesSettings(endpoint_url=standin.url)
        quota = read_quota(ses_aws.ses_client(settings), ses_aws.ses_v1_client(settings))
    assert (quota.source, quota.max_send_rate, quota.sending_enabled, quota.exhausted) == (
        "GetAccount", 250.0, True, False)


def test_refuses_what_it_does_not_know():
    with SesStandin() as standin:
        ses = sesv2(standin.url)
        with pytest.raises(ClientError) as refused:
            ses.list_email_identities()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        with pytest.raises(ClientError) as bad:
            ses.send_email(FromEmailAddress="a@mg.example.com", Destination={"ToAddresses": []},
                           Content={"Raw": {"Data": RAW}})
        assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert standin.count() == 0


def test_latency_holds_each_answer_back_after_recording_the_arrival():
    import time

    with SesStandin(latency=0.2) as standin:
        ses = sesv2(standin.url)
        asked = time.time()
        ses.send_email(FromEmailAddress="a@mg.example.com", Destination={"ToAddresses": ["b@example.com"]},
                       Content={"Raw": {"Data": RAW}})
        answered = time.time()
        (send,) = standin.sends()
    assert asked <= send.at <= answered - 0.15  # recorded on arrival, answered after the latency
