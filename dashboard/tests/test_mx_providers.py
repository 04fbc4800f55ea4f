"""Mailbox providers found by MX: a real DNS server on 127.0.0.1 answers the look-ups that
dnspython's async resolver makes; the answers land in ``dashboard_mx`` (TTL, negative cache),
at most ``mx_concurrency`` are in flight, recording events never waits for them, and the roll-ups
count Workspace- and 365-hosted domains under their provider (also after a backfill)."""

from __future__ import annotations

import time
import uuid

import pytest
from pydantic import ValidationError

import postgate_dashboard
from postgate import Event
from postgate_dashboard.rollups import queries
from postgate_dashboard.rollups.backfill import backfill
from postgate_dashboard.rollups.buffer import flush
from postgate_dashboard.rollups.models import Count, MxRecord
from postgate_dashboard.rollups.mx_directory import MxDirectory, directory_of
from postgate_dashboard.rollups.mx_resolver import askable, parse_nameserver
from postgate_dashboard.rollups.providers import provider_of_mx
from postgate_dashboard.web.settings import DashboardSettings
from postgate.testing.fixtures import TEST_DOMAIN
from postgate.testing.mariadb import mariadb_url  # noqa: F401 - fixture

from dashboard.tests.loopback_dns import LoopbackDns, Zone

ZONE = {
    "acme-corp.co": [(10, "alt1.aspmx.l.google.com"), (1, "aspmx.l.google.com")],
    "smallshop.co": [(1, "smtp.google.com")],
    "contoso-mail.co": [(0, "contoso-mail-co.mail.protection.outlook.com")],
    "writer.co": [(10, "in1-smtp.messagingengine.com"), (20, "in2-smtp.messagingengine.com")],
    "ownserver.co": [(10, "mx.ownserver.co")],
    "nomx.co": [],
}
SILENT = "quietdns.co"


@pytest.fixture
def zone():
    zone = Zone(mx={k: list(v) for k, v in ZONE.items()}, silent={SILENT})
    with LoopbackDns(zone) as server:
        zone.address = server.address
        yield zone


def mx_settings(zone, **more) -> dict:
    return {"dashboard": {"mx_lookups": True, "mx_nameservers": [zone.address], "mx_timeout_seconds": 0.5, **more}}


# -- the rules, without DNS ---------------------------------------------------------------------

@pytest.mark.parametrize("hosts, provider", [
    (["aspmx.l.google.com", "alt1.aspmx.l.google.com"], "google_workspace"),
    (["smtp.google.com"], "google_workspace"),
    (["ASPMX.L.GOOGLE.COM."], "google_workspace"),
    (["mx1.googlemail.com"], "google_workspace"),
    (["contoso-com.mail.protection.outlook.com"], "microsoft_365"),
    (["contoso-com.o-v1.mx.microsoft"], "microsoft_365"),
    (["mta5.am0.yahoodns.net"], "yahoo"),
    (["mx01.mail.icloud.com"], "icloud"),
    (["mail.protonmail.ch", "mailsec.protonmail.ch"], "proton"),
    (["in1-smtp.messagingengine.com"], "fastmail"),
    (["mx.zoho.eu"], "zoho"),
    (["mx.example-filter.net", "aspmx.l.google.com"], "google_workspace"),  # a filter first, then Google
    (["google.com.evil.example"], "other"),
    (["notgoogle.com"], "other"),
    ([], "other"),
])
def test_mx_hosts_name_the_provider(hosts, provider) -> None:
    assert provider_of_mx(hosts) == provider


@pytest.mark.parametrize("text, parsed", [
    ("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("::1", ("::1", 53)), ("[::1]:5353", ("::1", 5353)),
])
def test_nameservers_parse(text, parsed) -> None:
    assert parse_nameserver(text) == parsed


@pytest.mark.parametrize("text", ["dns.example", "127.0.0.1:0", "127.0.0.1:99999", "[::1]x", "1.2.3.4:5\r\n",
                                  "127.0.0.1:53:53", ""])
def test_bad_nameservers_are_refused_by_the_settings(text) -> None:
    with pytest.raises(ValidationError):
        DashboardSettings(mx_nameservers=[text])


@pytest.mark.parametrize("domain", ["example.com", "mg.example.org", "a.test", "x.invalid", "host.localhost",
                                    "nodot", "bad..co", "-x.co", "x\r\n.co", "x\x00.co", "a\u2028.co",
                                    "bücher.de", "a" * 64 + ".co", ("a." * 130) + "co"])
def test_reserved_and_malformed_names_are_never_asked_about(domain) -> None:
    assert not askable(domain)


def test_real_names_are_asked_about() -> None:
    assert askable("acme-corp.co") and askable("xn--bcher-kva.de")


# -- the directory against the loopback DNS server ---------------------------------------------

async def started(gateway_factory, zone, **more):
    gateway = gateway_factory(plugins=[postgate_dashboard], plugin_settings=mx_settings(zone, **more))
    await gateway.start()
    return gateway


async def test_answers_are_cached_in_memory_and_in_the_table(gateway_factory, zone) -> None:
    gateway = await started(gateway_factory, zone)
    directory = directory_of(gateway)
    found = await directory.hosted(["acme-corp.co", "Contoso-Mail.co", "writer.co", "ownserver.co", "nomx.co",
                                    "missing.co", "gmail.com", "example.com", SILENT])
    assert found == {"acme-corp.co": "google_workspace", "contoso-mail.co": "microsoft_365", "writer.co": "fastmail"}
    assert "gmail.com" not in zone.asked and "example.com" not in zone.asked  # known by name, or reserved
    asked = dict(zone.asked)
    assert await directory.hosted(["acme-corp.co", "ownserver.co", SILENT]) == {"acme-corp.co": "google_workspace"}
    assert zone.asked == asked  # the negative cache held the silent and provider-less names too

    with gateway.storage.orm():
        rows = {r.domain: r for r in await MxRecord.all()}
    assert rows["acme-corp.co"].hosts == "aspmx.l.google.com,alt1.aspmx.l.google.com"
    assert rows[SILENT].failed and rows[SILENT].provider == "other"
    settings = gateway.plugin_settings("dashboard")
    positive = rows["acme-corp.co"].expires_at - rows["acme-corp.co"].checked_at
    negative = rows[SILENT].expires_at - rows[SILENT].checked_at
    assert (positive, negative) == (settings.mx_ttl_seconds, settings.mx_negative_ttl_seconds)
    assert rows["ownserver.co"].expires_at - rows["ownserver.co"].checked_at == settings.mx_negative_ttl_seconds

    # Another process (a fresh directory) reads the table instead of asking again.
    other = MxDirectory(gateway, settings)
    assert await other.hosted(["acme-corp.co", "contoso-mail.co"]) == {
        "acme-corp.co": "google_workspace", "contoso-mail.co": "microsoft_365"}
    assert other.lookups == 0 and zone.asked == asked


async def test_an_expired_answer_is_asked_again(gateway_factory, zone) -> None:
    gateway = await started(gateway_factory, zone)
    directory = directory_of(gateway)
    assert await directory.hosted(["smallshop.co"]) == {"smallshop.co": "google_workspace"}
    zone.mx["smallshop.co"] = [(0, "smallshop-co.mail.protection.outlook.com")]  # moved to Microsoft
    assert await directory.hosted(["smallshop.co"]) == {"smallshop.co": "google_workspace"}  # still cached
    with gateway.storage.orm():
        await MxRecord.filter(domain="smallshop.co").update(expires_at=int(time.time()) - 1)
    directory.known.clear()
    assert await directory.hosted(["smallshop.co"]) == {"smallshop.co": "microsoft_365"}
    assert zone.asked["smallshop.co"] == 2


async def test_look_ups_in_flight_are_bounded(gateway_factory, zone) -> None:
    gateway = await started(gateway_factory, zone, mx_concurrency=3)
    zone.delay = 0.15
    names = [f"shop{i}.co" for i in range(12)]
    for name in names:
        zone.mx[name] = [(1, "aspmx.l.google.com")]
    assert await directory_of(gateway).hosted(names) == dict.fromkeys(names, "google_workspace")
    assert 1 <= zone.most_in_flight <= 3
    assert all(zone.asked[name] == 1 for name in names)


def delivered(recipient: str) -> Event:
    domain = recipient.rpartition("@")[2]
    return Event(domain=TEST_DOMAIN, event="delivered", recipient=recipient, message_id=f"m@{TEST_DOMAIN}",
                 payload={"event": "delivered", "recipient": recipient, "recipient-domain": domain},
                 key=f"delivered:{uuid.uuid4().hex}")


async def provider_totals(gateway) -> dict[str, int]:
    now = time.time()
    rows = await queries.by_provider(gateway, TEST_DOMAIN, now - 86400, now + 3600)
    return {row.provider: row.counts.get("delivered", 0) for row in rows}


async def test_roll_ups_count_hosted_domains_under_their_provider(gateway_factory, zone) -> None:
    gateway = await started(gateway_factory, zone)
    events = [delivered(a) for a in ("ann@acme-corp.co", "bo@acme-corp.co", "cy@contoso-mail.co",
                                     "di@gmail.com", "ed@ownserver.co", f"fi@{SILENT}")]
    stored = await gateway.record_events(events)
    # Recording returned with every event stored, although the silent domain's look-up is still ahead.
    assert len(stored) == 6 and SILENT not in zone.asked
    await flush(gateway)
    assert await provider_totals(gateway) == {"gmail": 1, "google_workspace": 2, "microsoft_365": 1, "other": 2}

    # The silent domain's DNS comes back and the cache entry runs out: a backfill re-attributes it.
    zone.silent.clear()
    zone.mx[SILENT] = [(1, "aspmx.l.google.com")]
    with gateway.storage.orm():
        await MxRecord.filter(domain=SILENT).update(expires_at=0)
    directory_of(gateway).known.clear()
    await backfill(gateway, TEST_DOMAIN)
    assert await provider_totals(gateway) == {"gmail": 1, "google_workspace": 3, "microsoft_365": 1, "other": 1}


def engaged(kind: str, recipient: str, **payload) -> Event:
    return Event(domain=TEST_DOMAIN, event=kind, recipient=recipient, message_id=f"m@{TEST_DOMAIN}",
                 payload={"event": kind, "recipient": recipient, "user-variables": {"email-id": "mx1"}, **payload},
                 key=f"{kind}:{uuid.uuid4().hex}", email_id="mx1", severity=payload.get("severity"))


async def test_failures_and_unique_opens_count_under_the_hosted_provider(gateway_factory, zone) -> None:
    """The provider is placed when the writer expands the tally: failures (the bounce explorer's
    groups) and first opens (unique counts) go under the MX-found provider too."""
    gateway = await started(gateway_factory, zone)
    await gateway.record_events([
        engaged("failed", "ann@Acme-Corp.co", severity="permanent", reason="generic",
                **{"delivery-status": {"code": 550, "enhanced-code": "5.1.1"}}),
        engaged("opened", "bo@acme-corp.co"), engaged("opened", "bo@acme-corp.co"),
        engaged("opened", "cy@contoso-mail.co")])
    await flush(gateway)
    now = time.time()
    found = await queries.by_provider(gateway, TEST_DOMAIN, now - 86400, now + 3600)
    rows = {row.provider: row.counts for row in found}
    assert set(rows) == {"google_workspace", "microsoft_365"}
    assert {k: rows["google_workspace"].get(k, 0) for k in ("failed_permanent", "opened", "opened_unique")} == {
        "failed_permanent": 1, "opened": 2, "opened_unique": 1}
    assert rows["microsoft_365"].get("opened_unique", 0) == 1
    groups = await queries.failure_groups(gateway, TEST_DOMAIN, now - 86400, now + 3600)
    assert [(g.kind, g.code, g.provider, g.n) for g in groups] == [("hard", "550", "google_workspace", 1)]


async def test_without_mx_lookups_nothing_is_asked(gateway_factory, zone) -> None:
    gateway = gateway_factory(plugins=[postgate_dashboard],
                              plugin_settings={"dashboard": {"mx_nameservers": [zone.address]}})
    await gateway.start()
    await gateway.record_events([delivered("ann@acme-corp.co")])
    await flush(gateway)
    assert directory_of(gateway) is None and zone.asked == {}
    assert await provider_totals(gateway) == {"other": 1}
    with gateway.storage.orm():
        assert await MxRecord.all().count() == 0 and await Count.all().count() > 0


async def test_the_cache_and_the_heartbeats_write_on_mariadb(gateway_factory, zone, mariadb_url) -> None:  # noqa: F811
    import postgate_mysql
    from postgate_dashboard.heartbeats import Beat, worker_rows, write_beats

    gateway = gateway_factory(plugins=[postgate_mysql, postgate_dashboard], backends={"storage": "mysql"},
                              plugin_settings={**mx_settings(zone), "mysql": {"url": mariadb_url}})
    await gateway.start()
    directory = directory_of(gateway)
    assert await directory.hosted(["acme-corp.co", SILENT]) == {"acme-corp.co": "google_workspace"}
    directory.known.clear()
    with gateway.storage.orm():
        await MxRecord.filter(domain="acme-corp.co").update(expires_at=0)
    zone.mx["acme-corp.co"] = [(0, "acme-corp-co.mail.protection.outlook.com")]
    assert await directory.hosted(["acme-corp.co", SILENT]) == {"acme-corp.co": "microsoft_365"}  # upserted
    with gateway.storage.orm():
        assert await MxRecord.all().count() == 2

    now = time.time()
    await write_beats(gateway, [Beat("worker-0@h:1:a", now - 10, now - 5, False)])
    await write_beats(gateway, [Beat("worker-0@h:1:a", now - 10, now, False), Beat("worker-1@h:1:b", now, now, False)])
    rows = await worker_rows(gateway, now, 60)
    assert [(r.owner, r.seen_at, r.alive) for r in rows] == [("worker-0@h:1:a", int(now), True),
                                                             ("worker-1@h:1:b", int(now), True)]
    await write_beats(gateway, [Beat("worker-1@h:1:b", now, now, True)])
    assert [r.owner for r in await worker_rows(gateway, now, 60)] == ["worker-0@h:1:a"]
