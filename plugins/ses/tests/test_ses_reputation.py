"""What the SES plugin tells the dashboard's Reputation page: the account's standing from the cached
``GetAccount`` reading (``Delivery.account_status``) and the ``domain_checks`` hook's identity,
DKIM and MAIL FROM checks, each from a cached call made off the event loop (moto, fault proxy)."""

from __future__ import annotations

import json
import pathlib
import sys

from postgate import AccountStatus

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from fault_proxy import Fault, FaultProxy  # noqa: E402
from ses_helpers import DOMAIN, ses_gateway, setup_ses  # noqa: E402

ACCOUNT = {"SendQuota": {"MaxSendRate": 14.0, "Max24HourSend": 50000.0, "SentLast24Hours": 120.0},
           "SendingEnabled": True, "EnforcementStatus": "PROBATION", "ProductionAccessEnabled": False}


async def checks_of(gw, domain: str) -> list:
    found = []
    for value in gw.pm.hook.domain_checks(gateway=gw, domain=domain):
        found.extend(await value or [])
    return found


async def test_account_status_is_getaccounts_reading_without_a_call_per_page(aws, gateway_factory):
    setup_ses(aws)
    with FaultProxy(aws.url) as proxy:
        proxy.inject(Fault("account", status=200, raw_body=json.dumps(ACCOUNT).encode()), action="GetAccount")
        gw = ses_gateway(gateway_factory, proxy.url)
        await gw.start()
        reads = proxy.count("GetAccount")
        status = await gw.delivery.account_status()
        again = await gw.delivery.account_status()
        assert proxy.count("GetAccount") == reads == 1  # the reading taken at start
        assert isinstance(status, AccountStatus) and status == again
        assert (status.source, status.enforcement_status, status.sending_enabled, status.production) == (
            "GetAccount", "PROBATION", True, False)
        assert status.read_at is not None
        await gw.stop()


async def test_without_getaccount_there_is_no_account_status(aws, gateway_factory):
    setup_ses(aws)  # moto answers GetAccount 404: only GetSendQuota's figures are known
    gw = ses_gateway(gateway_factory, aws.url)
    await gw.start()
    assert await gw.delivery.account_status() is None
    await gw.stop()


async def test_domain_checks_report_the_identity_dkim_and_mail_from_once_per_cache_period(aws, gateway_factory):
    setup_ses(aws)
    with FaultProxy(aws.url) as proxy:
        gw = ses_gateway(gateway_factory, proxy.url)
        await gw.start()
        first = await checks_of(gw, DOMAIN)
        identity_reads = f"GET /v2/email/identities/{DOMAIN}"
        assert proxy.count(identity_reads) == 1
        second = await checks_of(gw, DOMAIN)
        assert proxy.count(identity_reads) == 1  # answered from the cache
        assert first == second
        by_name = {c.name: c for c in first}
        assert set(by_name) == {"sending identity", "DKIM", "SPF (MAIL FROM)", "DMARC"}
        assert by_name["SPF (MAIL FROM)"].status == "WARN" and "mail_from_domain" in by_name["SPF (MAIL FROM)"].fix
        assert by_name["DMARC"].status == "SKIP" and f"_dmarc.{DOMAIN}" in by_name["DMARC"].detail
        missing = await checks_of(gw, "other.example.net")
        assert [(c.name, c.status) for c in missing] == [("sending identity", "FAIL")]
        assert "not an SES identity" in missing[0].detail
        await gw.stop()


async def test_no_domain_checks_when_ses_is_not_the_delivery(aws, gateway_factory):
    setup_ses(aws)
    gw = ses_gateway(gateway_factory, aws.url, backends={"delivery": "outbox"})
    await gw.start()
    assert await checks_of(gw, DOMAIN) == []
    await gw.stop()


async def test_domain_checks_when_ses_is_one_of_the_routes(aws, gateway_factory):
    """With the built-in ``routes`` delivery, SES found among its routes still answers the checks."""
    setup_ses(aws)
    gw = ses_gateway(gateway_factory, aws.url, backends={"delivery": "routes"},
                     plugin_settings={"routes": {"default": "outbox", "rules": [{"split": {"ses": 5, "outbox": 95}}]}})
    await gw.start()
    names = {check.name for check in await checks_of(gw, DOMAIN)}
    assert {"sending identity", "DKIM"} <= names
    await gw.stop()
