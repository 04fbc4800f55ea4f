"""The dashboard under a mount of the operator's choosing: every page, the sign-in and its
cookies live under it (scoped to that path), the default path answers 404, and a mount over the
API's paths is refused with the reason."""

from __future__ import annotations

import re

import httpx
import pytest
from pydantic import ValidationError

import postgate_dashboard
from postgate.testing.fixtures import TEST_DOMAIN
from postgate_dashboard.web.accounts import create_user
from postgate_dashboard.web.settings import DashboardSettings

PASSWORD = "correct horse battery"


def test_the_dashboard_lives_under_its_mount(live_server) -> None:
    server = live_server(plugins=[postgate_dashboard], background=False,
                         plugin_settings={"dashboard": {"mount": "/ops/mail/", "cookie_secure": False}})
    server.run(create_user(server.gateway, "pub@example.com", PASSWORD, "viewer"))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/dashboard/login").status_code == 404
        assert client.get("/dashboard/overview").status_code == 404
        home = client.get("/ops/mail/overview")
        assert home.status_code == 303 and home.headers["location"].endswith("/ops/mail/login")
        form = client.get("/ops/mail/login")
        assert form.status_code == 200 and 'action="/ops/mail/login"' in form.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
        signed = client.post("/ops/mail/login", data={"email": "pub@example.com", "password": PASSWORD,
                                                      "csrf_token": token})
        assert signed.status_code == 303
        session = [c for c in signed.headers.get_list("set-cookie") if c.startswith("postgate_dashboard_session=")]
        assert session and "path=/ops/mail" in session[0].lower() and "httponly" in session[0].lower()
        # Every cookie the dashboard set (CSRF seed, session) is scoped to the mount.
        assert {c.name for c in client.cookies.jar} >= {"postgate_dashboard_session"}
        assert {c.path for c in client.cookies.jar} == {"/ops/mail"}
        page = client.get(f"/ops/mail/sends?domain={TEST_DOMAIN}")
        assert page.status_code == 200
        assert 'href="/ops/mail/overview' in page.text and 'href="/dashboard/' not in page.text
        assert 'href="/ops/mail/static/dashboard.css' in page.text
        assert client.get("/ops/mail/static/dashboard.css").status_code == 200
        assert client.get(f"/v3/{TEST_DOMAIN}/events", auth=("api", "wrong")).status_code == 401  # the API stays


@pytest.mark.parametrize("mount", ["/", "/v3", "/v3/admin", "v4"])
def test_a_mount_over_the_api_is_refused(mount) -> None:
    with pytest.raises(ValidationError, match="mount must be a path of its own"):
        DashboardSettings(mount=mount)
