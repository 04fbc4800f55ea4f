"""Which sending domains a page may show, and which one the request picked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def domains(gateway: Any) -> list[str]:
    """The gateway's configured sending domains, sorted."""
    return sorted(gateway.settings.domain_keys())


def chosen_domain(gateway: Any, args: Mapping[str, str]) -> str:
    """``args["domain"]`` when it is one of :func:`domains` (any case), else the first of them
    (``""`` when none is configured)."""
    known = domains(gateway)
    domain = (args.get("domain") or "").lower()
    return domain if domain in known else (known[0] if known else "")
