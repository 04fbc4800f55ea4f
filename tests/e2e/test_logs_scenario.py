"""A full run of ``postgate serve`` as a subprocess, in console and in JSON log format: what an
operator's log collector (journald, ``docker logs``) gets.

The API key comes from an environment variable (``api_key_env``); a Ghost-like batch is sent, its
events are paged with ``begin``/``end``, and the SES plugin's SNS endpoint gets a genuine (signed)
``SubscriptionConfirmation`` with a recognizable token, confirmed against moto. Then the captured
stdout and stderr must hold the expected lines and never the key, the token or a message body.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from postgate.testing.aws import CREDENTIALS
from postgate.testing.fixtures import free_port
from postgate_ses.testing import SnsSigner, iso

DOMAIN = "mg.example.com"
KEY = "key-from-the-environment-5f0c9d2e8a7b41c3"
KEY_VARIABLE = "PG_LOGTEST_API_KEY"
TOKEN = "TOKEN-NEVER-LOGGED-" + "7e3a" * 16
BODY = "BODY-NEVER-LOGGED-hello %recipient.name%"
SIM = "simulator.amazonses.com"
REGION = "us-east-1"


def register_certificate(signer: SnsSigner) -> None:
    """Have moto serve ``signer``'s certificate at its ``SigningCertURL``, as AWS serves its own
    (moto keeps the PEMs it signs with in this table; the server runs in this process)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    name = signer.cert_url.rsplit("/", 1)[1]
    sns_backends[DEFAULT_ACCOUNT_ID][REGION]._message_public_keys[name] = signer.pem


def confirmation(signer: SnsSigner, topic: str) -> dict:
    return signer.sign({
        "Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()), "Token": TOKEN, "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.",
        "SubscribeURL": (f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription"
                         f"&TopicArn={topic}&Token={TOKEN}"),
        "Timestamp": iso(),
    })


def run_scenario(tmp_path: Path, aws, log_format: str) -> tuple[str, str]:
    """Start ``postgate serve``, drive it, stop it; return its stdout and stderr."""
    topic = aws.client("sns").create_topic(Name="postgate-ses-events")["TopicArn"]
    (tmp_path / "postgate.toml").write_text(f"""
load_plugins = ["ses"]
data_dir = "data"

[domains."{DOMAIN}"]
api_key_env = "{KEY_VARIABLE}"

[gateway]
chunk_size = 2

[plugins.ses]
endpoint_url = "{aws.url}"
sns_endpoint = true
sns_topic_arns = ["{topic}"]
""")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(CREDENTIALS, PYTHONUNBUFFERED="1", POSTGATE_LOG_FORMAT=log_format, **{KEY_VARIABLE: KEY})
    out, err = (tmp_path / "stdout.log").open("w+"), (tmp_path / "stderr.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "postgate", "serve", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=out, stderr=err)
    origin = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=origin, timeout=30) as client:
            wait_ready(client, proc)
            drive(client, topic)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    out.seek(0)
    err.seek(0)
    return out.read(), err.read()


def wait_ready(client: httpx.Client, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "postgate serve exited"
        try:
            if client.get("/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("postgate serve did not become ready")


def drive(client: httpx.Client, topic: str) -> None:
    auth = ("api", KEY)
    addresses = [f"success@{SIM}", f"bounce@{SIM}", "member@example.com"]
    sent = client.post(f"/v3/{DOMAIN}/messages", auth=auth, headers={"X-Request-Id": "ghost-send-1"}, data={
        "from": f"Blog <noreply@{DOMAIN}>", "to": addresses, "subject": "Hello", "text": BODY,
        "html": f"<p>{BODY}</p>", "recipient-variables": json.dumps({a: {"name": "M"} for a in addresses}),
        "v:email-id": "ghost-email-1"})
    assert sent.status_code == 200, sent.text
    begin = int(time.time()) - 60
    deadline = time.monotonic() + 60
    while True:
        page = client.get(f"/v3/{DOMAIN}/events", auth=auth, params={
            "begin": str(begin), "end": str(begin + 3600), "ascending": "yes", "limit": "300"})
        assert page.status_code == 200, page.text
        kinds = [item["event"] for item in page.json()["items"]]
        if kinds.count("delivered") == 2 and kinds.count("failed") == 1:
            break
        assert time.monotonic() < deadline, kinds
        time.sleep(0.2)
    assert client.get(f"/v3/{DOMAIN}/events", auth=("api", "key-wrong")).status_code == 401

    signer = SnsSigner(f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-{uuid.uuid4().hex}.pem")
    register_certificate(signer)
    confirmed = client.post("/ses/sns", content=json.dumps(confirmation(signer, topic)),
                            headers={"Content-Type": "text/plain; charset=UTF-8"})
    assert confirmed.status_code == 200 and confirmed.json() == {"message": "subscription confirmed"}, confirmed.text


def assert_never_logged(text: str) -> None:
    assert KEY not in text and KEY[8:] not in text
    assert TOKEN not in text and TOKEN[19:40] not in text
    assert "BODY-NEVER-LOGGED" not in text
    assert "member@example.com" not in text and f"bounce@{SIM}" not in text


def assert_start_up_is_clean(text: str) -> None:
    assert text.count("Running on http://127.0.0.1:") == 1, text
    assert "Tortoise-ORM shutdown" not in text


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_full_run_logs_what_happened_and_never_a_secret(tmp_path, aws, log_format):
    stdout, stderr = run_scenario(tmp_path, aws, log_format)
    text = stdout + stderr
    assert_never_logged(text)
    assert_start_up_is_clean(text)
    if log_format == "console":
        check_console(stderr)
    else:
        check_json(stdout, stderr)


def check_console(stderr: str) -> None:
    accepted = re.search(r"INFO postgate\.ops: batch accepted domain=mg\.example\.com recipients=3 "
                         r"message_id=(\S+) email_id=ghost-email-1 request_id=ghost-send-1$", stderr, re.M)
    assert accepted, stderr
    chunks = re.findall(r"postgate\.ops: chunk sent batch_id=\d+ message_id=(\S+) .*delivered=(\d) .*failed=(\d)",
                        stderr)
    assert {c[0] for c in chunks} == {accepted.group(1)}
    assert sum(int(c[1]) for c in chunks) == 2 and sum(int(c[2]) for c in chunks) == 1
    assert re.search(r"WARNING postgate\.ops: permanent failure batch_id=\d+ .*recipient_id=\d+ reason=\"550", stderr)
    assert re.search(r'postgate\.access: request method=POST path=/v3/mg\.example\.com/messages status=200 .*'
                     r'request_id=ghost-send-1$', stderr, re.M)
    assert re.search(r'postgate\.access: request method=GET path="/v3/mg\.example\.com/events\?begin=\d+&end=\d+'
                     r'&ascending=yes&limit=300" status=200 ', stderr)
    assert re.search(r'postgate\.access: request method=POST path=/ses/sns status=200 ', stderr)
    assert "confirmed the SNS subscription to arn:aws:sns:us-east-1:" in stderr


def check_json(stdout: str, stderr: str) -> None:
    records = []
    for line in (stdout + stderr).splitlines():
        if line.strip():
            records.append(json.loads(line))  # every line a collector sees parses
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    ops = [r for r in records if r["logger"] == "postgate.ops"]
    accepted, = [r for r in ops if r["message"] == "batch accepted"]
    assert accepted["request_id"] == "ghost-send-1" and accepted["recipients"] == 3
    chunks = [r for r in ops if r["message"] == "chunk sent"]
    assert {r["message_id"] for r in chunks} == {accepted["message_id"]}
    assert sum(r["delivered"] for r in chunks) == 2 and sum(r["failed"] for r in chunks) == 1
    failure, = [r for r in ops if r["message"] == "permanent failure"]
    assert failure["reason"].startswith("550") and isinstance(failure["recipient_id"], int)
    access = [r for r in records if r["logger"] == "postgate.access"]
    paged = [r for r in access if r["path"].startswith(f"/v3/{DOMAIN}/events?begin=")]
    assert paged and all("&end=" in r["path"] and r["status"] == 200 for r in paged)
    post, = [r for r in access if r["method"] == "POST" and r["path"] == f"/v3/{DOMAIN}/messages"]
    assert post["request_id"] == "ghost-send-1" and post["status"] == 200
    assert [r["status"] for r in access if r["path"] == "/ses/sns"] == [200]
    assert sum(r["status"] == 401 for r in access) == 1
    assert any(r["message"].startswith("Postgate is serving the Mailgun API at") for r in records)
