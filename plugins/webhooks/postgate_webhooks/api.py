"""The Mailgun webhooks API (``register_api_routes``): v3 per webhook, v4 per URL, and the
account's HTTP signing key under v5."""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint, jsonify, request
from werkzeug.datastructures import MultiDict

from postgate.errors import BadRequest, NotFound
from postgate.mailgun.parsing import read_fields
from postgate.web import allowed_domains, request_domain

from .names import MAX_URLS, WEBHOOK_NAMES
from .sample_post import record_test, sample_event, send_sample
from .signing import account_of, rotate_key, signing_key
from .state import webhooks_for
from .subscriptions import Urls, change, webhooks_of
from .targets import TargetRefused, check_configured


def _shown(urls: Urls) -> dict[str, dict[str, list[str]]]:
    return {name: {"urls": list(found)} for name, found in urls.items()}


def _name(value: str | None) -> str:
    if value not in WEBHOOK_NAMES:
        shown = "" if value is None else value[:40].encode("unicode_escape").decode()
        raise BadRequest(f"Invalid webhook name '{shown}': use one of {', '.join(WEBHOOK_NAMES)}"
                         if value else "Missing required parameter: id")
    return value


async def _urls(fields: MultiDict[str, str], gateway: Any) -> list[str]:
    """The ``url`` values, each checked (syntax and SSRF), duplicates dropped, at most 3."""
    urls = list(dict.fromkeys(fields.getlist("url")))
    if not urls or not all(urls):
        raise BadRequest("Missing required parameter: url")
    if len(urls) > MAX_URLS:
        raise BadRequest(f"A webhook may have at most {MAX_URLS} urls")
    allow = webhooks_for(gateway).settings.allow_private_targets
    for url in urls:
        try:
            await check_configured(url, allow)
        except TargetRefused as exc:
            raise BadRequest(f"Invalid url: {exc}") from None
    return urls


def webhooks_blueprint(gateway: Any) -> Blueprint:
    """The routes, bound to ``gateway``."""
    bp = Blueprint("webhooks_api", __name__)
    state = webhooks_for(gateway)

    def domain() -> str:
        found = request_domain()
        assert found is not None  # the path names it; authentication checked it
        return found

    def changed() -> None:
        state.subscriptions.invalidate()

    @bp.get("/v3/domains/<name>/webhooks")
    async def list_webhooks(name: str):
        with gateway.storage.orm():
            return jsonify({"webhooks": _shown(await webhooks_of(domain()))})

    @bp.post("/v3/domains/<name>/webhooks")
    async def create_webhook(name: str):
        fields, _ = await read_fields()
        webhook = _name(fields.get("id"))
        urls = await _urls(fields, gateway)

        def create(found: Urls) -> Urls:
            if webhook in found:
                raise BadRequest("Webhook already exists")
            return {**found, webhook: urls}

        await change(gateway.storage, domain(), create)
        changed()
        return jsonify({"message": "Webhook has been created", "webhook": {"urls": urls}})

    @bp.get("/v3/domains/<name>/webhooks/<webhook>")
    async def get_webhook(name: str, webhook: str):
        with gateway.storage.orm():
            urls = (await webhooks_of(domain())).get(_name(webhook))
        if not urls:
            raise NotFound("Webhook not found")
        return jsonify({"webhook": {"urls": urls}})

    @bp.put("/v3/domains/<name>/webhooks/<webhook>")
    async def update_webhook(name: str, webhook: str):
        webhook = _name(webhook)
        fields, _ = await read_fields()
        urls = await _urls(fields, gateway)
        await change(gateway.storage, domain(), lambda found: {**found, webhook: urls})
        changed()
        return jsonify({"message": "Webhook has been updated", "webhook": {"urls": urls}})

    @bp.delete("/v3/domains/<name>/webhooks/<webhook>")
    async def delete_webhook(name: str, webhook: str):
        webhook = _name(webhook)

        def delete(found: Urls) -> Urls:
            if webhook not in found:
                raise NotFound("Webhook not found")
            return {**found, webhook: []}

        before, _ = await change(gateway.storage, domain(), delete)
        changed()
        return jsonify({"message": "Webhook has been deleted", "webhook": {"urls": before[webhook]}})

    @bp.put("/v3/domains/<name>/webhooks/<webhook>/test")
    async def test_webhook(name: str, webhook: str):
        """One signed sample POST to ``url``, recorded in the attempts log as a test and answered
        with the receiver's status (``code`` 0 when none came)."""
        webhook = _name(webhook)
        fields, _ = await read_fields()
        [url] = (await _urls(fields, gateway))[:1]
        with gateway.storage.orm():
            key = await signing_key(account_of(gateway.domains, domain()))
        result = await send_sample(url, sample_event(webhook, domain(), time.time()), key,
                                   state.settings.allow_private_targets, state.settings.timeout_seconds)
        await record_test(gateway.storage, domain(), webhook, url, result)
        return jsonify({"code": result.status_code or 0, "message": result.message})

    # -- v4: one URL for several event types ----------------------------------------------------

    async def v4_change(add: bool) -> Any:
        fields, _ = await read_fields()
        types = list(dict.fromkeys(fields.getlist("event_types")))
        if not types:
            raise BadRequest("Missing required parameter: event_types")
        for webhook in types:
            _name(webhook)
        if len(fields.getlist("url")) > 1:
            raise BadRequest("Only one url may be given")
        [url] = await _urls(fields, gateway)

        def place(wanted: Urls) -> Urls:
            for name in WEBHOOK_NAMES:
                has = wanted.setdefault(name, [])
                if name in types and url not in has:
                    has.append(url)
                elif not add and name not in types and url in has:
                    has.remove(url)
                if len(has) > MAX_URLS:
                    raise BadRequest(f"A webhook may have at most {MAX_URLS} urls ({name} is full)")
            return wanted

        _, after = await change(gateway.storage, domain(), place)
        changed()
        return jsonify({"webhooks": _shown(after)})

    @bp.post("/v4/domains/<name>/webhooks")
    async def v4_create(name: str):
        return await v4_change(add=True)

    @bp.put("/v4/domains/<name>/webhooks")
    async def v4_update(name: str):
        return await v4_change(add=False)

    @bp.delete("/v4/domains/<name>/webhooks")
    async def v4_delete(name: str):
        gone = set(request.args.getlist("url"))
        for part in list(gone):
            gone.update(u for u in part.split(",") if u)
        if not gone:
            raise BadRequest("Missing required parameter: url")
        _, after = await change(gateway.storage, domain(),
                                lambda found: {name: [u for u in urls if u not in gone] for name, urls in found.items()})
        changed()
        return jsonify({"webhooks": _shown(after)})

    # -- v5: the account's signing key ------------------------------------------------------------

    def account() -> str:
        return account_of(gateway.domains, min(allowed_domains()))

    @bp.get("/v5/accounts/http_signing_key")
    async def get_signing_key():
        with gateway.storage.orm():
            return jsonify({"http_signing_key": await signing_key(account())})

    @bp.post("/v5/accounts/http_signing_key")
    async def rotate_signing_key():
        with gateway.storage.orm():
            key = await rotate_key(account())
        if state.dispatcher is not None:
            state.dispatcher.forget_keys()
        return jsonify({"message": "regenerated HTTP signing key for account", "http_signing_key": key})

    return bp
