"""Who may read ``/metrics``: the public listener answers only the configured bearer token, the
separate listener serves nothing else, and bad settings stop start-up with a clear message."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys

import httpx
import pytest
from metrics_helpers import TOKEN_ENV, scrape

from postgate import ConfigError, Gateway
from postgate.testing.fixtures import TEST_KEY, free_port, make_settings
from postgate_metrics import listener_address


def start(live_server, **metrics):
    return live_server(load_entrypoints=True, load_plugins=["metrics"], plugin_settings={"metrics": metrics})


def test_public_metrics_need_the_bearer_token(live_server, metrics_token):
    server = start(live_server, listen="", token_env=TOKEN_ENV)
    url = f"{server.url}/metrics"
    basic = base64.b64encode(f"api:{TEST_KEY}".encode()).decode()
    refused = {
        "no header": {},
        "wrong token": {"Authorization": "Bearer not-the-token"},
        "token as a prefix": {"Authorization": f"Bearer {metrics_token}x"},
        "the API key": {"Authorization": f"Basic {basic}"},
        "token without scheme": {"Authorization": metrics_token},
        "huge header": {"Authorization": "Bearer " + "x" * 10_000},
    }
    for case, headers in refused.items():
        response = httpx.get(url, headers=headers, timeout=30)
        assert response.status_code == 401, case
        assert response.json() == {"message": "metrics need 'Authorization: Bearer <token>' with the configured token"}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "postgate_" not in response.text
    assert listener_address(server.gateway) is None  # listen = "": no separate listener
    metrics = scrape(url, token=metrics_token)
    assert metrics.value("postgate_http_requests_total", route="/metrics", status="401") == len(refused)


def test_without_a_token_public_metrics_do_not_exist_and_the_listener_serves_only_metrics(live_server):
    server = start(live_server, listen="127.0.0.1:0")
    public = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer anything"}, timeout=30)
    assert public.status_code == 404 and public.json() == {"message": "Not Found"}
    host, port = listener_address(server.gateway)
    assert host == "127.0.0.1" and port > 0
    private = f"http://{host}:{port}"
    assert httpx.get(f"{private}/metrics", timeout=30).status_code == 200
    assert httpx.get(f"{private}/healthcheck", timeout=30).status_code == 404
    assert httpx.post(f"{private}/v3/mg.example.com/messages", timeout=30).status_code in (404, 405)


def gateway(tmp_path, **metrics) -> Gateway:
    settings = make_settings(tmp_path, load_plugins=["metrics"], plugin_settings={"metrics": metrics})
    return Gateway(settings)


def test_a_token_variable_that_is_not_set_stops_start_up(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ConfigError, match=rf"(?s)\[plugins.metrics\].*{TOKEN_ENV}.*not set or empty"):
        gateway(tmp_path, token_env=TOKEN_ENV)
    monkeypatch.setenv(TOKEN_ENV, "  ")
    with pytest.raises(ConfigError, match="not set or empty"):
        gateway(tmp_path, token_env=TOKEN_ENV)


def test_metrics_served_nowhere_or_a_bad_address_stop_start_up(tmp_path):
    with pytest.raises(ConfigError, match="served nowhere"):
        gateway(tmp_path, listen="")
    with pytest.raises(ConfigError, match="host:port"):
        gateway(tmp_path, listen="9464")
    with pytest.raises(ConfigError, match="host:port"):
        gateway(tmp_path, listen="127.0.0.1:99999")
    with pytest.raises(ConfigError, match="unknown|extra|not permitted"):
        gateway(tmp_path, lisen="127.0.0.1:9464")


def test_a_taken_listen_port_stops_serve_with_one_line_naming_the_setting(tmp_path):
    (tmp_path / "postgate.toml").write_text(
        'load_plugins = ["metrics"]\ndata_dir = "data"\n[plugins.metrics]\nlisten = "127.0.0.1:PORT"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTGATE_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "postgate.toml"
        config.write_text(config.read_text().replace("PORT", str(port)))
        done = subprocess.run([sys.executable, "-m", "postgate", "serve", "--port", str(free_port())],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert f"Error: start-up failed: [plugins.metrics] listen 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_listener_closes_with_the_gateway(live_server):
    server = start(live_server, listen="127.0.0.1:0")
    host, port = listener_address(server.gateway)
    assert httpx.get(f"http://{host}:{port}/metrics", timeout=30).status_code == 200
    server.stop()
    assert listener_address(server.gateway) is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{host}:{port}/metrics", timeout=5)
