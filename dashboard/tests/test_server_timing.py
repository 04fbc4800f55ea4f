"""Every dashboard page says how long the server took: ``Server-Timing: app;dur=<ms>`` (signed in
through the form with its CSRF token, over plain HTTP with a real client)."""

from __future__ import annotations

import re

import httpx

import postgate_dashboard
from postgate_dashboard.web.accounts import create_user

PASSWORD = "correct horse battery"
TIMING = re.compile(r"^app;dur=\d+\.\d{2}$")


def test_pages_carry_server_timing(live_server) -> None:
    server = live_server(plugins=[postgate_dashboard], background=False,
                         plugin_settings={"dashboard": {"cookie_secure": False}})
    server.run(create_user(server.gateway, "pub@example.com", PASSWORD, "viewer"))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        form = client.get("/dashboard/login")
        assert TIMING.match(form.headers["server-timing"])
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
        signed = client.post("/dashboard/login", data={"email": "pub@example.com", "password": PASSWORD,
                                                       "csrf_token": token})
        assert signed.status_code == 303
        for path in ("/dashboard/overview?period=30d", "/dashboard/sends", "/dashboard/providers",
                     "/dashboard/bounces", "/dashboard/reputation", "/dashboard/operations",
                     "/dashboard/timeline?q=a@example.com", "/dashboard/suppressions", "/dashboard/overview?period=bogus"):
            page = client.get(path)
            assert page.status_code == (400 if path.endswith("bogus") else 200), path
            assert TIMING.match(page.headers["server-timing"]), path
