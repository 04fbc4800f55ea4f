"""The same queue on MariaDB: subscriptions, signed POSTs, a retry and the attempts log with each
POST's duration; the test route's sample POSTs in that log; concurrent changes of the webhooks
under the named lock."""

from __future__ import annotations

import postgate_mysql
import postgate_webhooks.plugin as webhooks_plugin
from postgate.testing.mariadb import temporary_database
from webhook_helpers import (ALLOW_PRIVATE, Receiver, attempts, check_concurrent_changes, check_test_route_logs, send,
                             signing_key, subscribe)


async def test_delivery_and_retry_on_mariadb(live_server) -> None:
    receiver = Receiver()
    try:
        async with temporary_database() as url:
            server = live_server(plugins=[postgate_mysql, webhooks_plugin], backends={"storage": "mysql"},
                                 plugin_settings={"mysql": {"url": url}, "webhooks": ALLOW_PRIVATE})
            try:
                receiver.signing_key = signing_key(server)
                receiver.answers["/hook"] = [502]
                receiver.pauses["/hook"] = 0.2
                subscribe(server, "delivered", receiver.url("/hook"))
                send(server, "ann@example.com")
                receiver.wait(lambda: len(receiver.to("/hook")) == 2)
                rows = receiver.wait(lambda: len(attempts(server)) == 2 and attempts(server))
                assert [(a.outcome, a.status_code) for a in reversed(rows)] == [("retry", 502), ("delivered", 200)]
                assert receiver.verified == [True, True]
                assert all(a.duration_ms >= 200 for a in rows), [a.duration_ms for a in rows]
            finally:
                server.stop()  # before the database is dropped
    finally:
        receiver.close()


async def test_the_test_route_logs_on_mariadb(live_server) -> None:
    receiver = Receiver()
    try:
        async with temporary_database() as url:
            server = live_server(plugins=[postgate_mysql, webhooks_plugin], backends={"storage": "mysql"},
                                 background=False, plugin_settings={"mysql": {"url": url},
                                                                    "webhooks": {**ALLOW_PRIVATE, "timeout_seconds": 1}})
            try:
                check_test_route_logs(server, receiver, 1)
            finally:
                server.stop()
    finally:
        receiver.close()


async def test_concurrent_changes_on_mariadb(live_server) -> None:
    async with temporary_database() as url:
        server = live_server(plugins=[postgate_mysql, webhooks_plugin], backends={"storage": "mysql"},
                             plugin_settings={"mysql": {"url": url}, "webhooks": {"allow_private_targets": False}})
        try:
            check_concurrent_changes(server)
        finally:
            server.stop()
