"""``postgate aws bootstrap`` against moto: creates everything, is idempotent, and ``--dry-run``
changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import postgate_ses
from postgate.cli import cli as postgate_cli
from postgate.settings import load_settings
from postgate_ses.bootstrap import (
    EVENT_TYPES,
    Bootstrap,
    BootstrapReport,
    Clients,
    Target,
    bootstrap_policy,
    dns_records,
    runtime_policy,
    settings_snippet,
)
from postgate_ses.commands import aws_group
from postgate_ses.settings import SesSettings

DOMAIN = "news.example.com"


def write_config(path: Path, ses: dict | None = None, sqs: dict | None = None, extra: str = "") -> Path:
    lines = [extra, "[plugins.ses]"]
    for key, value in {"sending_domain": DOMAIN, **(ses or {})}.items():
        lines.append(f"{key} = {json.dumps(value)}")
    if sqs:
        lines.append("[plugins.sqs]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in sqs.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def env(aws, monkeypatch, tmp_path):
    """moto reached through AWS_ENDPOINT_URL, the way a subprocess would reach it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
    monkeypatch.delenv("POSTGATE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return aws


def run_bootstrap(config: Path, dry_run: bool = False) -> BootstrapReport:
    target = Target.from_settings(load_settings(config))
    return Bootstrap(target, Clients(target.ses, target.sqs_table), dry_run=dry_run).run()


def states(report: BootstrapReport) -> dict[str, str]:
    return {f"{s.what} {s.name}".strip(): s.state for s in report.steps}


def test_ses_bootstrap_creates_everything(env, tmp_path):
    report = run_bootstrap(write_config(tmp_path / "postgate.toml"))

    assert set(states(report).values()) == {"created"}, states(report)
    sqs, sns = env.client("sqs"), env.client("sns")

    # jobs and events queues, each with a dead-letter queue through RedrivePolicy
    for main, dlq in ((report.jobs, report.jobs_dlq), (report.events, report.events_dlq)):
        assert main.name + "-dlq" == dlq.name
        attrs = sqs.get_queue_attributes(QueueUrl=main.url, AttributeNames=["All"])["Attributes"]
        assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 5}
    assert report.jobs.name == "postgate-jobs" and report.events.name == "postgate-ses-events"

    # the topic, its envelope subscription to the events queue, and the queue policy
    assert report.topic_arn.endswith(":postgate-ses-events")
    subs = sns.list_subscriptions_by_topic(TopicArn=report.topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("sqs", report.events.arn)]
    sub_attrs = sns.get_subscription_attributes(SubscriptionArn=subs[0]["SubscriptionArn"])["Attributes"]
    assert sub_attrs["RawMessageDelivery"] == "false"
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=report.events.url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": report.topic_arn}}

    # SES: identity, configuration set, event destination with every event type (stored by moto's v1 API)
    assert env.client("sesv2").get_email_identity(EmailIdentity=DOMAIN)["IdentityType"] == "DOMAIN"
    env.client("sesv2").get_configuration_set(ConfigurationSetName="postgate")
    [dest] = env.client("ses").describe_configuration_set(
        ConfigurationSetName="postgate", ConfigurationSetAttributeNames=["eventDestinations"])["EventDestinations"]
    assert dest["SNSDestination"]["TopicARN"] == report.topic_arn
    assert len(dest["MatchingEventTypes"]) == len(EVENT_TYPES) == 10

    # the events really flow: SNS -> SQS envelope
    sns.publish(TopicArn=report.topic_arn, Message=json.dumps({"eventType": "Send"}))
    [message] = sqs.receive_message(QueueUrl=report.events.url)["Messages"]
    assert json.loads(message["Body"])["TopicArn"] == report.topic_arn


def test_ses_bootstrap_second_run_changes_nothing(env, tmp_path):
    config = write_config(tmp_path / "postgate.toml")
    runner = CliRunner()
    first = runner.invoke(aws_group, ["bootstrap", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert "created" in first.output
    report1 = run_bootstrap(config)

    second = runner.invoke(aws_group, ["bootstrap", "--config", str(config)])
    assert second.exit_code == 0, second.output
    assert "created" not in second.output and "updated" not in second.output
    assert "nothing to change: everything exists" in second.output
    assert set(states(report1).values()) == {"exists"}
    report2 = run_bootstrap(config)
    for attr in ("topic_arn", "subscription_arn"):
        assert getattr(report1, attr) == getattr(report2, attr)
    for attr in ("jobs", "jobs_dlq", "events", "events_dlq"):
        assert getattr(report1, attr) == getattr(report2, attr)
    assert len(env.client("sqs").list_queues()["QueueUrls"]) == 4
    assert len(env.client("sns").list_subscriptions()["Subscriptions"]) == 1
    # the output carries the settings to paste, the IAM policies and the DNS records
    assert f'events_queue_url = "{report1.events.url}"' in second.output
    assert f'queue_url = "{report1.jobs.url}"' in second.output
    assert f"POSTGATE_PLUGINS__SES__EVENTS_QUEUE_URL={report1.events.url}" in second.output
    assert '"ses:SendRawEmail"' in second.output and '"sqs:CreateQueue"' in second.output
    assert f"_dmarc.{DOMAIN}" in second.output


def test_ses_bootstrap_dry_run_creates_nothing(env, tmp_path):
    config = write_config(tmp_path / "postgate.toml")
    result = CliRunner().invoke(aws_group, ["bootstrap", "--dry-run", "--config", str(config)])

    assert result.exit_code == 0, result.output
    assert result.output.count("would create") == 10
    assert "Dry run: nothing was changed" in result.output
    assert "Settings to paste" not in result.output
    assert env.client("sqs").list_queues().get("QueueUrls", []) == []
    assert env.client("sns").list_topics()["Topics"] == []
    assert env.client("sesv2").list_configuration_sets()["ConfigurationSets"] == []
    assert env.client("sesv2").list_email_identities()["EmailIdentities"] == []


def test_ses_bootstrap_dry_run_after_bootstrap_shows_what_exists(env, tmp_path):
    config = write_config(tmp_path / "postgate.toml")
    run_bootstrap(config)
    report = run_bootstrap(config, dry_run=True)
    assert set(states(report).values()) == {"exists"}


def test_ses_bootstrap_repairs_a_queue_without_dead_letter_queue(env, tmp_path):
    url = env.client("sqs").create_queue(QueueName="postgate-jobs")["QueueUrl"]
    config = write_config(tmp_path / "postgate.toml", ses={"max_receive_count": 3})

    planned = run_bootstrap(config, dry_run=True)
    assert states(planned)["jobs queue postgate-jobs"] == "would update"
    report = run_bootstrap(config)

    assert states(report)["jobs queue postgate-jobs"] == "updated"
    assert report.jobs.url == url
    redrive = json.loads(env.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": report.jobs_dlq.arn, "maxReceiveCount": 3}


def test_ses_bootstrap_uses_the_configured_queue_urls(env, tmp_path):
    sqs = env.client("sqs")
    jobs = sqs.create_queue(QueueName="my-jobs")["QueueUrl"]
    events = sqs.create_queue(QueueName="my-events")["QueueUrl"]
    config = write_config(tmp_path / "postgate.toml", ses={"events_queue_url": events}, sqs={"queue_url": jobs})

    report = run_bootstrap(config)

    assert (report.jobs.url, report.events.url) == (jobs, events)
    assert (report.jobs_dlq.name, report.events_dlq.name) == ("my-jobs-dlq", "my-events-dlq")


def test_ses_bootstrap_skips_the_jobs_queue_with_another_queue_backend(env, tmp_path):
    config = write_config(tmp_path / "postgate.toml", extra='[backends]\nqueue = "local"\n')
    report = run_bootstrap(config)
    assert report.jobs is None
    assert not any("jobs" in key for key in states(report))


def test_ses_bootstrap_subscribes_the_https_endpoint(env, tmp_path):
    config = write_config(tmp_path / "postgate.toml", ses={"sns_endpoint": True},
                          extra='[gateway]\npublic_url = "https://mail.example.com/"\n')
    report = run_bootstrap(config)

    assert states(report)["SNS HTTPS subscription https://mail.example.com/ses/sns"] == "created"
    subs = env.client("sns").list_subscriptions_by_topic(TopicArn=report.topic_arn)["Subscriptions"]
    assert sorted(s["Protocol"] for s in subs) == ["https", "sqs"]
    toml, env_lines = settings_snippet(report, Target.from_settings(load_settings(config)))
    assert f'sns_topic_arns = ["{report.topic_arn}"]' in toml
    assert states(run_bootstrap(config))["SNS HTTPS subscription https://mail.example.com/ses/sns"] == "exists"


def test_ses_bootstrap_policies_and_dns_records():
    ses = SesSettings(region="eu-west-1", sending_domain=DOMAIN, mail_from_domain=f"bounce.{DOMAIN}")
    target = Target(ses=ses, sqs_table={}, public_url=None, use_jobs_queue=True,
                    jobs_queue_name="postgate-jobs", jobs_queue_url=None)
    report = BootstrapReport(dry_run=True, account="111122223333", partition="aws", region="eu-west-1",
                             jobs_region="eu-west-1", dkim_tokens=["tok1", "tok2", "tok3"],
                             topic_arn="arn:aws:sns:eu-west-1:111122223333:postgate-ses-events")

    runtime = runtime_policy(report, target)
    send, quota, queues = runtime["Statement"]
    assert send["Resource"] == ["arn:aws:ses:eu-west-1:111122223333:identity/news.example.com",
                                "arn:aws:ses:eu-west-1:111122223333:configuration-set/postgate"]
    assert "ses:GetAccount" in quota["Action"]
    assert queues["Resource"] == ["arn:aws:sqs:eu-west-1:111122223333:postgate-jobs",
                                  "arn:aws:sqs:eu-west-1:111122223333:postgate-ses-events"]
    assert not any(a.startswith("sqs:Create") for s in runtime["Statement"] for a in s["Action"])
    setup = bootstrap_policy(report, target)
    actions = {a for s in setup["Statement"] for a in s["Action"]}
    assert {"sqs:CreateQueue", "sns:CreateTopic", "ses:CreateConfigurationSetEventDestination"} <= actions

    records = {(name, kind): value for name, kind, value, _ in dns_records(report, ses)}
    assert records[("tok1._domainkey.news.example.com", "CNAME")] == "tok1.dkim.amazonses.com"
    assert records[("bounce.news.example.com", "MX")] == "10 feedback-smtp.eu-west-1.amazonses.com"
    assert "include:amazonses.com" in records[("bounce.news.example.com", "TXT")]
    assert records[("_dmarc.news.example.com", "TXT")].startswith('"v=DMARC1; p=none')


def test_ses_bootstrap_through_the_postgate_command_line(env, tmp_path):
    group = click.Group("postgate", commands=dict(postgate_cli.commands))
    postgate_ses.register_commands(cli=group)
    config = write_config(tmp_path / "postgate.toml")

    result = CliRunner().invoke(group, ["aws", "bootstrap", "--dry-run", "--config", str(config)])

    assert result.exit_code == 0, result.output
    assert "would create  SES configuration set postgate" in result.output
    assert "doctor" in group.commands


def test_ses_bootstrap_reports_a_bad_plugin_table(env, tmp_path):
    config = write_config(tmp_path / "postgate.toml", ses={"no_such_setting": 1})
    result = CliRunner().invoke(aws_group, ["bootstrap", "--config", str(config)])
    assert result.exit_code == 1
    assert "no_such_setting: unknown setting" in result.output


def test_ses_bootstrap_stops_at_a_failing_step_and_says_which(env, tmp_path):
    # An incomplete destination needs the update call, which moto implements in neither API.
    env.client("sesv2").create_configuration_set(ConfigurationSetName="postgate")
    env.client("ses").create_configuration_set_event_destination(
        ConfigurationSetName="postgate",
        EventDestination={"Name": "postgate-sns", "Enabled": True, "MatchingEventTypes": ["send"],
                          "SNSDestination": {"TopicARN": "arn:aws:sns:us-east-1:123456789012:elsewhere"}})
    config = write_config(tmp_path / "postgate.toml")

    result = CliRunner().invoke(aws_group, ["bootstrap", "--config", str(config)])

    assert result.exit_code == 1
    assert "exists  SES configuration set postgate" in result.output
    assert "failed  SES event destination" in result.output
    assert "Error: SES event destination:" in result.output
    assert "docs/iam.md" in result.output


def test_ses_bootstrap_snippet_carries_storage_and_gateway_but_no_secret(tmp_path, monkeypatch):
    import shlex

    from postgate_ses.bootstrap import QueueInfo

    monkeypatch.delenv("POSTGATE_CONFIG", raising=False)
    config = write_config(tmp_path / "in.toml", extra=(
        'load_plugins = ["ses"]\n[backends]\nstorage = "mysql"\n'
        '[gateway]\npublic_url = "https://mail.example.com"\nhost = "0.0.0.0"\n'
        '[plugins.mysql]\nhost = "db"\nuser = "mailer"\npassword = "s3cret-pw"\n'))
    target = Target.from_settings(load_settings(config))
    report = BootstrapReport(dry_run=False, account="111122223333", partition="aws", region="us-east-1",
                             jobs_region="us-east-1",
                             jobs=QueueInfo("postgate-jobs", "http://aws.test/111122223333/postgate-jobs"),
                             events=QueueInfo("postgate-ses-events", "http://aws.test/111122223333/postgate-ses-events"))

    toml_lines, env_lines = settings_snippet(report, target)
    text = "\n".join(toml_lines + env_lines)
    assert "s3cret-pw" not in text
    assert "# password: set POSTGATE_PLUGINS__MYSQL__PASSWORD in the environment (not printed here)" in toml_lines

    pasted = tmp_path / "postgate.toml"
    pasted.write_text("\n".join(toml_lines) + "\n")
    from_file = load_settings(pasted)
    assert from_file.load_plugins == ["ses", "sqs", "mysql"]
    assert (from_file.gateway.public_url, from_file.gateway.host) == ("https://mail.example.com", "0.0.0.0")
    assert from_file.plugins["mysql"] == {"host": "db", "user": "mailer"}
    assert from_file.plugins["sqs"]["region"] == "us-east-1"
    assert from_file.domain == DOMAIN

    # the environment form says the same (the secret's line is an instruction, not a value)
    for line in env_lines:
        if "not printed here" in line:
            continue
        name, value = shlex.split(line)[0].split("=", 1)
        monkeypatch.setenv(name, value)
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    from_env = load_settings(None)
    assert from_env.model_dump() == from_file.model_dump()


def test_ses_bootstrap_snippet_gives_the_jobs_queue_the_endpoint_it_was_made_at(tmp_path, monkeypatch):
    """With only [plugins.ses] endpoint_url (moto, LocalStack), bootstrap makes the jobs queue there:
    the pasted [plugins.sqs] must name that endpoint too, or the queue plugin calls real AWS."""
    from postgate_ses.bootstrap import QueueInfo

    monkeypatch.delenv("POSTGATE_CONFIG", raising=False)
    report = BootstrapReport(dry_run=False, account="111122223333", partition="aws", region="eu-west-1",
                             jobs_region="eu-west-1",
                             jobs=QueueInfo("postgate-jobs", "http://127.0.0.1:5000/111122223333/postgate-jobs"))
    for sqs, wanted in ((None, "http://127.0.0.1:5000"),
                        ({"endpoint_url": "http://127.0.0.1:5001"}, "http://127.0.0.1:5001")):
        config = write_config(tmp_path / "in.toml", ses={"endpoint_url": "http://127.0.0.1:5000"}, sqs=sqs,
                              extra='load_plugins = ["ses", "sqs"]\n')
        target = Target.from_settings(load_settings(config))
        assert Clients(target.ses, target.sqs_table).jobs_endpoint_url == wanted
        toml_lines, _ = settings_snippet(report, target)
        pasted = tmp_path / "postgate.toml"
        pasted.write_text("\n".join(toml_lines) + "\n")
        assert load_settings(pasted).plugins["sqs"]["endpoint_url"] == wanted
