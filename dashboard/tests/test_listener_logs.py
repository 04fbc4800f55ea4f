"""The dashboard's own listener logs through Postgate's handler: with ``log_format = "json"`` every
line ``postgate serve`` writes parses, and Hypercorn's "Running on" shows once per listener."""

import json
import os
import signal
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
