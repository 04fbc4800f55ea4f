"""What ``postgate aws bootstrap`` prints starts the stack as is.

A new user's first steps, as subprocesses: bootstrap against moto (on a loopback port), paste
exactly the printed ``postgate.toml`` snippet into a fresh folder, ``postgate migrate``,
``postgate serve``, pass ``/health/ready`` and send one message through SQS to SES. The only thing
added by hand is what a user has and the output does not print: AWS credentials and, for moto,
``AWS_ENDPOINT_URL``. No ``AWS_DEFAULT_REGION``: the snippet must name every region itself. Run
with the storage a user starts with (SQLite) and with MariaDB.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import pytest

from postgate.testing.fixtures import free_port
from postgate.testing.mariadb import create_database, drop_database

DOMAIN = "news.example.com"
BANNER_KEY = "bulkEmail__mailgun__apiKey="


def user_env(aws_url: str) -> dict[str, str]:
    """A shell with AWS credentials and nothing else of Postgate's or AWS's configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGATE_", "AWS_"))}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=aws_url,
               PYTHONUNBUFFERED="1")
    return env


def postgate(args: list[str], folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "postgate", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=180)


def pasted_snippet(output: str) -> str:
    """The block under "Settings to paste into postgate.toml:", as a user would copy it."""
    start = output.index("Settings to paste into postgate.toml:")
    end = output.index("or as environment variables:", start)
    block = output[start:end].split("\n", 1)[1]
    return textwrap.dedent(block).strip() + "\n"


def wait_ready(url: str, proc: subprocess.Popen[str], log: Path) -> dict:
    deadline = time.monotonic() + 120
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"postgate serve exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            last = httpx.get(f"{url}/health/ready", timeout=5)
            if last.status_code == 200:
                return last.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"/health/ready never passed: {last and last.text}\n{log.read_text()[-4000:]}")


@pytest.fixture(params=["sqlite", "mysql"])
def storage(request):
    """The storage the user's configuration chose: ``(load_plugins, extra TOML, password)``."""
    if request.param == "sqlite":
        yield [], "", ""
        return
    url = asyncio.run(create_database("postgate_bootstrap"))
    parts = urlparse(url)
    table = textwrap.dedent(f"""\
        [backends]
        storage = "mysql"

        [plugins.mysql]
        host = "{parts.hostname}"
        port = {parts.port or 3306}
        user = "{unquote(parts.username or 'root')}"
        database = "{parts.path.lstrip('/')}"
    """)
    try:
        yield ["mysql"], table, unquote(parts.password or "")
    finally:
        asyncio.run(drop_database(url))


def test_ses_bootstrap_output_starts_the_stack(aws, tmp_path, storage):
    plugins, storage_toml, password = storage
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    env = user_env(aws.url)
    setup = tmp_path / "setup"
    setup.mkdir()
    (setup / "postgate.toml").write_text(textwrap.dedent(f"""\
        load_plugins = {json.dumps(["ses", *plugins])}

        [gateway]
        public_url = "{public_url}"
        port = {port}

        [plugins.ses]
        region = "eu-west-1"
        sending_domain = "{DOMAIN}"
    """) + storage_toml)
    if password:  # a user keeps the database password in the environment, as the output says
        env["POSTGATE_PLUGINS__MYSQL__PASSWORD"] = password

    done = postgate(["aws", "bootstrap"], setup, env)
    assert done.returncode == 0, done.stdout + done.stderr
    snippet = pasted_snippet(done.stdout)
    parsed = tomllib.loads(snippet)
    assert parsed["backends"].get("storage", "sqlite") == ("mysql" if plugins else "sqlite")
    if password:
        assert password not in done.stdout
        assert "POSTGATE_PLUGINS__MYSQL__PASSWORD" in snippet
    assert parsed["gateway"]["public_url"] == public_url
    assert parsed["plugins"]["sqs"]["region"] == "eu-west-1"
    assert (parsed["backends"]["queue"], parsed["backends"]["delivery"]) == ("sqs", "ses")

    live = tmp_path / "live"
    live.mkdir()
    (live / "postgate.toml").write_text(snippet)
    migrated = postgate(["migrate"], live, env)
    assert migrated.returncode == 0, f"migrate failed on the pasted snippet:\n{snippet}\n{migrated.stdout}{migrated.stderr}"

    log = live / "serve.log"
    with log.open("w") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "postgate", "serve"], cwd=live, env=env,
                                stdout=handle, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        checks = wait_ready(public_url, proc, log)
        assert checks["status"] == "ok", checks
        key = next(line.split("=", 1)[1] for line in log.read_text().splitlines() if BANNER_KEY in line)
        sent = httpx.post(f"{public_url}/v3/{DOMAIN}/messages", auth=("api", key), timeout=30, data={
            "from": f"Newsletter <news@{DOMAIN}>", "to": "reader@example.org", "subject": "First issue",
            "text": "Hello from the pasted configuration."})
        assert sent.status_code == 200, sent.text

        deadline = time.monotonic() + 120
        while not (raw := aws.raw_messages()) and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-4000:]
            time.sleep(0.3)
        assert [set(m["destinations"]) for m in raw] == [{"reader@example.org"}], log.read_text()[-4000:]
        assert "First issue" in raw[0]["raw_data"]
    finally:
        proc.terminate()
        proc.wait(30)
