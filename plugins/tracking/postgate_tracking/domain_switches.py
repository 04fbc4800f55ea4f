"""A sending domain's tracking switches as they really apply, and as Mailgun's API shows and changes
them (``GET /v3/domains/<name>/tracking`` through the core's ``domain_tracking`` hook, ``PUT
/v3/domains/<name>/tracking/open|click|unsubscribe`` here).

A switch set through the API is stored in ``tracking_domains`` (shared by every process of the
deployment, read once per batch) and wins over ``[plugins.tracking.domains.<name>]``, which wins
over the plugin-wide value. A message's own ``o:tracking*`` options win over all of them.
"""

from __future__ import annotations

import time
from typing import Any

from postgate import Gateway

from .models import TrackingDomain
from .settings import DomainTracking
from .state import Tracking

#: Mailgun's spellings of the switches; ``htmlonly`` only for clicks.
YES, NO = frozenset({"yes", "true"}), frozenset({"no", "false"})
#: The columns ``PUT`` can change, by switch.
STORED = ("opens", "pixel_top", "clicks", "unsubscribe")


async def switches(gateway: Gateway, state: Tracking, domain: str) -> DomainTracking:
    """The domain's settings from the file, overlaid with what the API stored (one read)."""
    merged = state.settings.for_domain(domain)
    with gateway.storage.orm():
        row = await TrackingDomain.get_or_none(domain=domain.lower())
    if row is None:
        return merged
    changes: dict[str, Any] = {name: getattr(row, name) for name in STORED if getattr(row, name) is not None}
    if "clicks" in changes:
        changes["clicks"] = "htmlonly" if changes["clicks"] == "htmlonly" else changes["clicks"] == "yes"
    return merged.model_copy(update=changes)


def can_track(state: Tracking, found: DomainTracking) -> bool:
    """Whether the plugin can mark the domain's mail at all: a signing key and a tracking host."""
    return state.signer is not None and bool(found.base_url)


def can_unsubscribe(state: Tracking, found: DomainTracking) -> bool:
    """Whether the plugin can fill the domain's unsubscribe variables: a signing key and a tracking
    host (for the links) or an ``unsubscribe_mail_domain`` (for the ``mailto:`` addresses)."""
    return state.signer is not None and bool(found.base_url or found.unsubscribe_mail_domain)


def can_switch_on(state: Tracking, found: DomainTracking, kind: str) -> bool:
    """Whether switching ``kind`` (open, click or unsubscribe) on would change the domain's mail."""
    return can_unsubscribe(state, found) if kind == "unsubscribe" else can_track(state, found)


def mailgun_view(state: Tracking, found: DomainTracking) -> dict[str, Any]:
    """The ``tracking`` object of Mailgun's ``GET /v3/domains/<name>/tracking``."""
    able = can_track(state, found)
    return {
        "open": {"active": able and bool(found.opens), "place_at_the_top": bool(found.pixel_top)},
        "click": {"active": (found.clicks if able and found.clicks else False)},
        "unsubscribe": {"active": can_unsubscribe(state, found) and bool(found.unsubscribe), "html_footer": "",
                        "text_footer": ""},
    }


def parse_switch(value: str, *, htmlonly: bool = False) -> bool | str:
    """``yes``/``true``/``no``/``false`` (any case), and ``htmlonly`` where allowed; else ``ValueError``."""
    word = value.lower() if len(value) <= 16 else ""
    if word in YES:
        return True
    if word in NO:
        return False
    if htmlonly and word == "htmlonly":
        return "htmlonly"
    allowed = "yes, no, true, false" + (" or htmlonly" if htmlonly else "")
    raise ValueError(f"must be one of {allowed}")


async def store(gateway: Gateway, domain: str, changes: dict[str, Any]) -> None:
    """Keep ``changes`` (columns of :data:`STORED`) for the domain."""
    if "clicks" in changes:
        clicks = changes["clicks"]
        changes = {**changes, "clicks": clicks if clicks == "htmlonly" else "yes" if clicks else "no"}
    with gateway.storage.orm():
        await TrackingDomain.update_or_create(defaults={**changes, "updated_at": time.time()},
                                              domain=domain.lower())
