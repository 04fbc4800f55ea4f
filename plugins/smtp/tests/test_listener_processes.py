"""Which process opens the SMTP port: ``postgate serve`` does (also with ``--workers 0``),
``postgate worker`` never does; a taken SMTP port stops ``serve`` with one line."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postgate.testing.fixtures import free_port

KEY = "key-processes-test"


def write_config(folder: Path, smtp_port: int) -> Path:
    config = folder / "postgate.toml"
    config.write_text(
        'domain = "mg.example.com"\n'
        f'api_key = "{KEY}"\n'
        'load_plugins = ["smtp"]\n'
        "[plugins.smtp]\n"
        f'listen = "127.0.0.1:{smtp_port}"\n'
    )
    return config


def start(folder: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    return subprocess.Popen([sys.executable, "-m", "postgate", *args, "--config", str(folder / "postgate.toml")],
                            cwd=folder, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 60) -> str:
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return "".join(lines)
    raise AssertionError(f"{text!r} never printed:\n{''.join(lines)}")


def smtp_answers(port: int, timeout: float = 30) -> bool:
    """Whether an SMTP server greets on ``port`` (waits for it up to ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                return client.noop()[0] == 250
        except (ConnectionRefusedError, smtplib.SMTPServerDisconnected):
            time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize("workers", ["1", "0"])
def test_serve_opens_the_smtp_port_and_closes_it_on_shutdown(tmp_path, workers):
    smtp_port = free_port()
    write_config(tmp_path, smtp_port)
    proc = start(tmp_path, "serve", "--port", str(free_port()), "--workers", workers)
    try:
        assert smtp_answers(smtp_port)
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            client.login("postmaster@mg.example.com", KEY)
            refused = client.sendmail("app@mg.example.com", ["reader@example.com"],
                                      b"From: app@mg.example.com\r\nSubject: s\r\n\r\nhello\r\n")
        assert refused == {}
    finally:
        stop(proc)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", smtp_port), timeout=5)


def test_a_worker_process_never_opens_the_smtp_port(tmp_path):
    smtp_port = free_port()
    write_config(tmp_path, smtp_port)
    proc = start(tmp_path, "worker")
    try:
        wait_for_line(proc, "worker running")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", smtp_port), timeout=5)
    finally:
        stop(proc)


def test_a_taken_smtp_port_stops_serve_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        smtp_port = taken.getsockname()[1]
        write_config(tmp_path, smtp_port)
        proc = start(tmp_path, "serve", "--port", str(free_port()))
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert f"cannot listen for SMTP on 127.0.0.1:{smtp_port}" in output, output
    assert "Traceback" not in output
