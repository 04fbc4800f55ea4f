"""``postgate doctor`` against moto: fails with the right fixes before bootstrap, passes after."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from postgate.settings import load_settings
from postgate_ses.bootstrap import Bootstrap, BootstrapReport, Clients, Target
from postgate_ses.commands import doctor
from postgate_ses.doctor import FAIL, PASS, SKIP, WARN, CheckResult, Doctor

DOMAIN = "news.example.com"


def write_config(path: Path, ses: dict | None = None, sqs: dict | None = None, extra: str = "") -> Path:
    lines = [extra, "[plugins.ses]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in {"sending_domain": DOMAIN, **(ses or {})}.items()]
    if sqs:
        lines += ["[plugins.sqs]"] + [f"{k} = {json.dumps(v)}" for k, v in sqs.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def env(aws, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
    monkeypatch.delenv("POSTGATE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return aws


def target_of(config: Path) -> Target:
    return Target.from_settings(load_settings(config))


def diagnose(config: Path, **kwargs) -> dict[str, CheckResult]:
    target = target_of(config)
    results = Doctor(target, Clients(target.ses, target.sqs_table), **kwargs).run()
    return {r.name: r for r in results}


def bootstrapped(tmp_path: Path, **ses) -> tuple[Path, BootstrapReport]:
    """Run bootstrap, then write the configuration it prints (queue URLs pasted in)."""
    config = write_config(tmp_path / "postgate.toml", ses=ses)
    target = target_of(config)
    report = Bootstrap(target, Clients(target.ses, target.sqs_table)).run()
    config = write_config(tmp_path / "postgate.toml", ses={**ses, "events_queue_url": report.events.url},
                          sqs={"queue_url": report.jobs.url, "dead_letter_queue_url": report.jobs_dlq.url},
                          extra='[backends]\nqueue = "sqs"\ndelivery = "ses"\nevent_sources = ["ses"]\n')
    return config, report


def test_ses_doctor_fails_before_bootstrap_with_fixes(env, tmp_path):
    checks = diagnose(write_config(tmp_path / "postgate.toml"))

    assert checks["credentials"].status == PASS
    expected_failures = {
        "sending identity": "bootstrap",
        "configuration set": "bootstrap",
        "jobs queue": "bootstrap",
        "events queue": "bootstrap",
        "events config": "events_queue_url",
        "SNS topic": "bootstrap",
    }
    for name, fix in expected_failures.items():
        assert checks[name].status == FAIL, checks[name]
        assert fix in checks[name].fix, checks[name]
    assert "does not exist" in checks["jobs queue"].detail
    assert "'postgate' does not exist" in checks["configuration set"].detail
    assert checks["event destination"].status == SKIP
    assert checks["SNS subscription"].status == SKIP


def test_ses_doctor_command_exits_non_zero_on_failure(env, tmp_path):
    config = write_config(tmp_path / "postgate.toml")
    result = CliRunner().invoke(doctor, ["--config", str(config)])

    assert result.exit_code == 1
    assert "FAIL  configuration set" in result.output
    assert "fix: run `postgate aws bootstrap`" in result.output
    assert " failed" in result.output.splitlines()[-1]


def test_ses_doctor_passes_after_bootstrap(env, tmp_path):
    config, report = bootstrapped(tmp_path)

    checks = diagnose(config, probe=True)

    failures = [c for c in checks.values() if c.status == FAIL]
    assert failures == []
    for name in ("credentials", "region", "quotas", "sending identity", "DKIM", "jobs queue", "jobs queue DLQ",
                 "events queue", "events queue DLQ", "SNS topic", "event destination", "SNS -> events queue",
                 "SNS probe"):
        assert checks[name].status == PASS, checks[name]
    # moto has no GetAccount: sandbox vs production cannot be told, quotas come from v1 GetSendQuota
    assert checks["account"].status == WARN and "could not tell" in checks["account"].detail
    assert "GetSendQuota" in checks["quotas"].detail
    assert "all 10 event types" in checks["event destination"].detail
    # the probe message was consumed: nothing is left on the queue
    attrs = env.client("sqs").get_queue_attributes(QueueUrl=report.events.url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_ses_doctor_command_passes_after_bootstrap(env, tmp_path):
    config, _ = bootstrapped(tmp_path)
    result = CliRunner().invoke(doctor, ["--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert "PASS  SNS -> events queue" in result.output


def test_ses_doctor_warns_about_a_non_empty_dead_letter_queue(env, tmp_path):
    config, report = bootstrapped(tmp_path)
    env.client("sqs").send_message(QueueUrl=report.jobs_dlq.url, MessageBody='{"job": 1}')

    checks = diagnose(config)

    dlq = checks["jobs queue DLQ"]
    assert dlq.status == WARN
    assert "1 message(s) in postgate-jobs-dlq" in dlq.detail
    assert f"start-message-move-task --source-arn {report.jobs_dlq.arn}" in dlq.fix
    assert not any(c.status == FAIL for c in checks.values())


def test_ses_doctor_fails_on_a_missing_queue(env, tmp_path):
    config, report = bootstrapped(tmp_path)
    env.client("sqs").delete_queue(QueueUrl=report.jobs.url)

    check = diagnose(config)["jobs queue"]

    assert check.status == FAIL
    assert report.jobs.url in check.detail and "does not exist" in check.detail
    assert "postgate aws bootstrap" in check.fix and "[plugins.sqs] queue_url" in check.fix


def test_ses_doctor_fails_without_a_configuration_set(env, tmp_path):
    config, _ = bootstrapped(tmp_path, configuration_set="other")
    config.write_text(config.read_text().replace('configuration_set = "other"', 'configuration_set = "missing"'))

    checks = diagnose(config)

    assert checks["configuration set"].status == FAIL
    assert "postgate aws bootstrap" in checks["configuration set"].fix
    assert checks["event destination"].status == SKIP


def test_ses_doctor_names_missing_event_types(env, tmp_path):
    config, report = bootstrapped(tmp_path)
    env.client("sesv2").create_configuration_set(ConfigurationSetName="partial")
    env.client("ses").create_configuration_set_event_destination(
        ConfigurationSetName="partial",
        EventDestination={"Name": "mine", "Enabled": True, "MatchingEventTypes": ["send", "delivery", "open"],
                          "SNSDestination": {"TopicARN": report.topic_arn}})
    config.write_text(config.read_text().replace("[plugins.ses]", '[plugins.ses]\nconfiguration_set = "partial"'))

    check = diagnose(config)["event destination"]

    assert check.status == FAIL
    assert "REJECT, BOUNCE, COMPLAINT" in check.detail and "CLICK" in check.detail
    assert "postgate aws bootstrap" in check.fix


def test_ses_doctor_fails_when_the_queue_policy_does_not_let_the_topic_send(env, tmp_path):
    config, report = bootstrapped(tmp_path)
    env.client("sqs").set_queue_attributes(QueueUrl=report.events.url, Attributes={"Policy": json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "x", "Effect": "Deny", "Principal": "*",
                                                 "Action": "sqs:SendMessage", "Resource": report.events.arn}]})})

    check = diagnose(config)["SNS -> events queue"]

    assert check.status == FAIL and "queue policy" in check.detail


def test_ses_doctor_checks_the_https_endpoint_settings(env, tmp_path):
    config, report = bootstrapped(tmp_path, sns_endpoint=True)  # no public_url: bootstrap skipped the HTTPS step

    check = diagnose(config)["SNS -> HTTPS endpoint"]

    assert check.status == FAIL and "public_url" in check.fix


def test_ses_doctor_wants_the_jobs_queue_url_with_the_sqs_backend(env, tmp_path):
    config = write_config(tmp_path / "postgate.toml", extra='[backends]\nqueue = "sqs"\n')
    check = diagnose(config)["jobs config"]
    assert check.status == FAIL and "[plugins.sqs]" in check.fix
