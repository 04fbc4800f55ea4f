"""`postgate serve` with nothing configured starts, prints Ghost's lines, and accepts mail; `migrate` works."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from postgate.testing.fixtures import free_port


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    env.update(extra)
    return env


def wait_healthy(origin: str, timeout: float = 60.0) -> None:
    """Wait until the server answers its health check (a loaded machine starts it slowly)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{origin}/healthcheck", timeout=10).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{origin} never answered its health check"
        time.sleep(0.05)


def test_serve_with_nothing_configured(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "postgate", "serve", "--port", str(port)],
        cwd=tmp_path, env=clean_env(PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "bulkEmail__mailgun__domain=" in line:
                break
        output = "".join(lines)
        base = re.search(r"bulkEmail__mailgun__baseUrl=(\S+)", output).group(1)
        key = re.search(r"bulkEmail__mailgun__apiKey=(\S+)", output).group(1)
        domain = re.search(r"bulkEmail__mailgun__domain=(\S+)", output).group(1)
        assert base == f"http://127.0.0.1:{port}/v3"
        assert domain == "localhost"
        assert (tmp_path / "data" / "api_key").read_text().strip() == key
        origin = base.removesuffix("/v3")
        wait_healthy(origin)
        sent = httpx.post(f"{origin}/v3/localhost/messages", auth=("api", key), timeout=30,
                          data={"from": "a@localhost", "to": "b@example.com", "subject": "s", "text": "t"})
        assert sent.status_code == 200, sent.text
        assert sent.json()["message"] == "Queued. Thank you."
        deadline = time.monotonic() + 30
        while not list((tmp_path / "data" / "outbox").rglob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(list((tmp_path / "data" / "outbox").rglob("*.eml"))) == 1
        # the events name the address served on (--port), not the default port 3000
        urls = []
        for _ in range(200):
            items = httpx.get(f"{origin}/v3/localhost/events", auth=("api", key)).json()["items"]
            urls = [item["storage"]["url"] for item in items if "storage" in item]
            if len(items) >= 2:
                break
            time.sleep(0.05)
        assert urls and all(url.startswith(f"{origin}/v3/domains/localhost/messages/") for url in urls), urls
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_migrate_command(tmp_path):
    first = subprocess.run([sys.executable, "-m", "postgate", "migrate"], cwd=tmp_path, env=clean_env(),
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert re.search(r"applied [1-9]\d* migration\(s\) to sqlite: 0_", first.stdout), first.stdout
    assert (tmp_path / "data" / "postgate.sqlite3").exists()
    again = subprocess.run([sys.executable, "-m", "postgate", "migrate"], cwd=tmp_path, env=clean_env(),
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "sqlite storage is up to date" in again.stdout


def test_serve_never_prints_a_configured_key(tmp_path):
    """The banner lands in every log: a key set by environment must not appear in it, only masked."""
    key = "key-configured-by-environment-0123456789"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "postgate", "serve", "--port", str(port)],
        cwd=tmp_path, env=clean_env(PYTHONUNBUFFERED="1", POSTGATE_API_KEY=key),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        origin = f"http://127.0.0.1:{port}"
        wait_healthy(origin)
        sent = httpx.post(f"{origin}/v3/localhost/messages", auth=("api", key), timeout=30,
                          data={"from": "a@localhost", "to": "b@example.com", "subject": "s", "text": "t"})
        assert sent.status_code == 200, sent.text
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert "bulkEmail__mailgun__apiKey=key-conf\u2026" in output, output
    assert key not in output
    assert key[8:] not in output


def test_serve_on_a_taken_port_says_so_and_exits(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "postgate", "serve", "--port", str(port)],
                              cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"port {port} is already in use" in done.stderr, done.stderr
    assert "--port" in done.stderr and "POSTGATE_GATEWAY__PORT" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_migrate_with_an_unusable_sqlite_path_is_one_line(tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    done = subprocess.run([sys.executable, "-m", "postgate", "migrate"], cwd=tmp_path, capture_output=True, text=True,
                          env=clean_env(POSTGATE_PLUGINS__SQLITE__PATH=str(tmp_path / "not-a-folder" / "db.sqlite3")),
                          timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "Error: cannot open the sqlite storage" in done.stderr, done.stderr
    assert "not-a-folder" in done.stderr and "folder exists" in done.stderr


def test_serve_and_worker_with_a_plugin_setting_refused_at_start_say_it_in_one_line(tmp_path):
    """The tracking plugin checks its signing keys as it adds its routes (serve) or starts (worker),
    and check-config makes the same check: a clear error, no traceback."""
    (tmp_path / "postgate.toml").write_text('load_plugins = ["tracking"]\n[plugins.tracking]\n'
                                            'base_url = "https://email.mg.example.com"\n')
    for command in (["serve", "--port", str(free_port())], ["worker"], ["check-config"]):
        done = subprocess.run([sys.executable, "-m", "postgate", *command],
                              cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, command
        assert "Traceback" not in done.stderr + done.stdout, done.stderr
        assert ("Error: [plugins.tracking]: a base_url is set but POSTGATE_TRACKING_KEYS holds no signing key"
                in done.stderr), (command, done.stderr)


def test_check_config_refuses_tracking_without_keys_with_the_start_up_message_and_builds_no_app(tmp_path):
    """check-config runs the tracking plugin's key check (the ``check_config`` hook) without building
    the app: the dashboard, loaded too, writes no secret file."""
    postgate = str(Path(sys.executable).parent / "postgate")
    config = tmp_path / "postgate.toml"
    config.write_text('load_plugins = ["tracking", "dashboard"]\n[plugins.tracking]\n'
                      'base_url = "https://email.mg.example.com"\n')
    missing = subprocess.run([postgate, "check-config"], cwd=tmp_path, env=clean_env(), capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode != 0
    assert missing.stderr == ("Error: [plugins.tracking]: a base_url is set but POSTGATE_TRACKING_KEYS holds no "
                              "signing key ('id:secret', the secret at least 16 characters)\n"), missing.stderr
    assert "configuration is valid" not in missing.stdout
    short = subprocess.run([postgate, "check-config"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env=clean_env(POSTGATE_TRACKING_KEYS="k1:short"))
    assert short.returncode != 0 and "Error: invalid settings in [plugins.tracking]: POSTGATE_TRACKING_KEYS: " \
        "each key is 'id:secret'" in short.stderr, short.stderr
    config.write_text('load_plugins = ["tracking"]\n[plugins.tracking]\n'
                      'unsubscribe_mail_domain = "unsubscribe.example.com"\n')
    mailbox = subprocess.run([postgate, "check-config"], cwd=tmp_path, env=clean_env(), capture_output=True,
                             text=True, timeout=60)
    assert mailbox.returncode != 0
    assert "Error: [plugins.tracking]: an unsubscribe_mail_domain is set but POSTGATE_TRACKING_KEYS" in mailbox.stderr
    keyed = subprocess.run([postgate, "check-config"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                           env=clean_env(POSTGATE_TRACKING_KEYS="k1:" + "s" * 32))
    assert keyed.returncode == 0, keyed.stderr
    assert "configuration is valid" in keyed.stdout
    assert not (tmp_path / "data").exists(), sorted((tmp_path / "data").rglob("*"))
