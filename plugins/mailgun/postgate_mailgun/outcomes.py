"""Upstream HTTP answers → :class:`~postgate.DeliveryResult` (pure; see ``docs/mailgun-relay.md``).

====================================  ==================================================================
Upstream answer                        Result
====================================  ==================================================================
200                                    ``sent``, provider id = Mailgun's message id (without ``<>``);
                                       delivery is confirmed later by the upstream's events
400, 413                               permanent ``failed`` (550 / 552, reason ``generic``)
401, 403, 404                          the whole call fails and sending pauses (:class:`UpstreamRefused`)
429                                    temporary ``failed`` 421 4.7.0 (the upstream did not take it);
                                       the backend's pacer slows later calls (:mod:`.pacing`)
5xx, read timeout, dropped answer      ``unknown``: in doubt, settled from the upstream's events
no connection made                     temporary ``failed`` 451 4.4.1 (it never left)
====================================  ==================================================================
"""

from __future__ import annotations

import httpx

from postgate import DeliveryResult

from .upstream import answer_json, answer_text

#: Statuses that say the key or the domain is wrong: nothing of the call can succeed.
REFUSED = frozenset({401, 403, 404})


class UpstreamRefused(RuntimeError):
    """The upstream refused the key or the domain (401/403/404): the whole call fails."""


def bare_id(message_id: str) -> str:
    return message_id.strip().removeprefix("<").removesuffix(">")


def from_response(recipient_id: int, response: httpx.Response) -> DeliveryResult:
    """The result of one answered send call (raises :class:`UpstreamRefused` for 401/403/404)."""
    status = response.status_code
    text = answer_text(response)
    if 200 <= status < 300:
        provider_id = str(answer_json(response).get("id") or "")
        if not provider_id:
            return DeliveryResult(recipient_id, "unknown", message=f"upstream {status} without a message id: {text}")
        return DeliveryResult(recipient_id, "sent", provider_id=bare_id(provider_id),
                              message=f"Queued by the upstream Mailgun: {text}")
    if status in REFUSED:
        raise UpstreamRefused(f"the upstream Mailgun answered {status}: {text}")
    if status == 429:
        return DeliveryResult(recipient_id, "failed", code=421, enhanced_code="4.7.0", reason="generic",
                              message=f"upstream rate limit (429): {text}")
    if status in (400, 413):
        return DeliveryResult(recipient_id, "failed", permanent=True, code=552 if status == 413 else 550,
                              enhanced_code="5.3.4" if status == 413 else "5.6.0", reason="generic",
                              message=f"refused by the upstream Mailgun ({status}): {text}")
    if status >= 500:
        return DeliveryResult(recipient_id, "unknown", message=f"upstream {status}: {text}")
    return DeliveryResult(recipient_id, "failed", code=451, enhanced_code="4.3.0", reason="generic",
                          message=f"unexpected upstream answer {status}: {text}")


def from_error(recipient_id: int, exc: httpx.HTTPError) -> DeliveryResult:
    """The result of a call that got no answer."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return DeliveryResult(recipient_id, "failed", code=451, enhanced_code="4.4.1", reason="generic",
                              message=f"upstream unreachable, not sent: {type(exc).__name__}: {exc}")
    return DeliveryResult(recipient_id, "unknown", message=f"no upstream answer: {type(exc).__name__}: {exc}")
