"""The dashboard's own listener under a real ``postgate serve``: it logs through Postgate's handler
(with ``log_format = "json"`` every line parses, and Hypercorn's "Running on" shows once per
listener), and a taken port stops start-up with one line."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from postgate.testing.fixtures import free_port


def test_the_own_listener_writes_only_json_lines(tmp_path) -> None:
    api, own = free_port(), free_port()
    (tmp_path / "postgate.toml").write_text(
        f'load_plugins = ["dashboard"]\nlog_format = "json"\n[plugins.dashboard]\nlisten = "127.0.0.1:{own}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    proc = subprocess.Popen([sys.executable, "-m", "postgate", "serve", "--port", str(api)], cwd=tmp_path,
                            env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if sum(f"Running on http://127.0.0.1:{port}" in line for line in list(lines)
                   for port in (api, own)) >= 2:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"serve did not come up on both listeners:\n{''.join(lines)}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    assert proc.returncode == 0, "".join(lines)
    records = []
    for line in filter(str.strip, lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}\n{''.join(lines)}") from None
    running = [r["message"] for r in records if r["message"].startswith(f"Running on http://127.0.0.1:{own}")]
    assert len(running) == 1, running


def test_a_taken_port_stops_serve_with_one_line(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        own = taken.getsockname()[1]
        (tmp_path / "postgate.toml").write_text(
            f'load_plugins = ["dashboard"]\n[plugins.dashboard]\nlisten = "127.0.0.1:{own}"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
        done = subprocess.run([sys.executable, "-m", "postgate", "serve", "--port", str(free_port())],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert (f"Error: start-up failed: [plugins.dashboard] listen 127.0.0.1:{own}: Address already in use; "
            "pick another address with listen (or POSTGATE_PLUGINS__DASHBOARD__LISTEN)") in done.stderr, done.stderr
