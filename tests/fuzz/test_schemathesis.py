"""The whole served API, fuzzed from its OpenAPI document against a live Hypercorn.

schemathesis generates valid and invalid requests for every operation of ``docs/openapi.yaml``
and sends them to a gateway on a loopback port, with a valid key and without one. Pass mark:
no 5xx (``not_a_server_error``) and no response outside the document (status code, content
type and body schema). The gateway loads the webhooks plugin, whose routes the document holds.
Bounded per operation so the file runs in well under three minutes.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import postgate_webhooks.plugin as webhooks_plugin
from fuzz_harness import OTHER_DOMAIN, OTHER_KEY
from postgate.app import Gateway
from postgate.testing.fixtures import TEST_DOMAIN, LiveServer, basic_auth, make_settings

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
#: The webhook test route POSTs to the URL it is given at once: never fuzzed (it would send
#: requests to generated addresses); its shape is checked by the webhooks plugin's own tests.
schema = schemathesis.openapi.from_path(SPEC).exclude(path_regex=r"/webhooks/\{webhook\}/test$")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BOUNDED = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
WRONG_KEY = {"Authorization": "Basic " + base64.b64encode(b"api:not-the-key").decode()}


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    settings_ = make_settings(tmp_path_factory.mktemp("openapi"), domains={OTHER_DOMAIN: {"api_key": OTHER_KEY}})
    # with the webhooks plugin, whose routes the document describes too (background=False: no deliveries)
    server = LiveServer(Gateway(settings_, plugins=[webhooks_plugin], load_entrypoints=False), background=False).start()
    yield server.url
    server.stop()


def aim_at_the_configured_domain(case) -> None:
    """Generated domain names would all be 404s; send most requests to the one that exists."""
    for name in ("domain", "name"):
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = TEST_DOMAIN


@schema.parametrize()
@settings(BOUNDED, max_examples=30)
def test_the_api_with_a_valid_key(case, live_api):
    aim_at_the_configured_domain(case)
    response = case.call_and_validate(base_url=live_api, headers=basic_auth(), checks=CHECKS, timeout=30)
    assert response.status_code < 500


@schema.parametrize()
@settings(BOUNDED, max_examples=6)
def test_the_api_with_a_wrong_key(case, live_api):
    aim_at_the_configured_domain(case)
    response = case.call_and_validate(base_url=live_api, headers=WRONG_KEY, checks=CHECKS, timeout=30)
    assert response.status_code < 500


@schema.parametrize()
@settings(BOUNDED, max_examples=4)
def test_the_api_without_a_key(case, live_api):
    response = case.call_and_validate(base_url=live_api, checks=CHECKS, timeout=30)
    assert response.status_code < 500
