"""Built-in plugin: API keys from the configuration, compared in constant time."""

from __future__ import annotations

import hmac

from ..hookspecs import hookimpl


@hookimpl(trylast=True)
def check_api_key(gateway, domain: str, api_key: str) -> bool:
    expected = gateway.domains.get(domain.lower())
    if not expected or not api_key:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), api_key.encode("utf-8"))
