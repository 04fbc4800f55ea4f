"""Plugins extend the Mailgun API through ``register_api_routes``: behind the API key, never over
the built-in surface, never outside /v1 to /v5."""

import httpx
import pytest
from quart import Blueprint, jsonify

from postgate import Gateway, hookimpl
from postgate.errors import BadRequest
from postgate.settings import ConfigError
from postgate.testing.fixtures import make_settings
from postgate.web import allowed_domains, create_app, request_domain


class Extension:
    """An account-level /v1 path and a per-domain /v3 path, as webhooks and metrics need."""

    @hookimpl
    def register_api_routes(self, gateway):
        bp = Blueprint("extension", __name__)

        @bp.post("/v1/analytics/hello")
        async def account():
            return jsonify({"domain": request_domain(), "allowed": allowed_domains()})

        @bp.get("/v3/domains/<name>/hello")
        async def per_domain(name):
            if name.startswith("bad"):
                raise BadRequest("bad name")
            return jsonify({"domain": request_domain()})

        return [bp]


def test_extension_is_behind_the_api_key(live_server):
    server = live_server(plugins=[Extension()], background=False)
    auth = ("api", "key-test")
    assert httpx.post(f"{server.url}/v1/analytics/hello", timeout=30).status_code == 401
    assert httpx.post(f"{server.url}/v1/analytics/hello", auth=("api", "key-wrong"), timeout=30).status_code == 401
    account = httpx.post(f"{server.url}/v1/analytics/hello", auth=auth, timeout=30)
    assert account.status_code == 200
    assert account.json() == {"domain": None, "allowed": ["mg.example.com"]}
    mine = httpx.get(f"{server.url}/v3/domains/mg.example.com/hello", auth=auth, timeout=30)
    assert mine.json() == {"domain": "mg.example.com"}
    unknown = httpx.get(f"{server.url}/v3/domains/other.example/hello", auth=auth, timeout=30)
    assert unknown.status_code == 404 and "message" in unknown.json()


def _gateway(tmp_path, plugin):
    return Gateway(make_settings(tmp_path / "data"), plugins=[plugin])


def _plugin(rule, method="GET"):
    bp = Blueprint("claimer", __name__)
    bp.add_url_rule(rule, "claim", lambda **kw: "x", methods=[method])

    class Claimer:
        @hookimpl
        def register_api_routes(self, gateway):
            return [bp]

    return Claimer()


def test_extension_cannot_replace_a_built_in_rule(tmp_path):
    with pytest.raises(ConfigError, match="already answers"):
        create_app(_gateway(tmp_path, _plugin("/v3/<domain>/events")))


def test_extension_may_add_a_method_to_a_built_in_path(tmp_path):
    app = create_app(_gateway(tmp_path, _plugin("/v3/<domain>/events", method="PATCH")))
    assert any(r.rule == "/v3/<domain>/events" and "PATCH" in r.methods for r in app.url_map.iter_rules())


def test_extension_stays_under_the_api_prefixes(tmp_path):
    with pytest.raises(ConfigError, match="not under /v1/ to /v5/"):
        create_app(_gateway(tmp_path, _plugin("/hello")))
