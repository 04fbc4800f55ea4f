"""Readiness checks: named async probes that raise when something is down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(slots=True)
class HealthCheck:
    name: str
    probe: Callable[[], Awaitable[object]]


async def run_checks(checks: list[HealthCheck], timeout: float = 5.0) -> dict[str, str]:
    """Run every probe concurrently; map each name to ``"ok"`` or the error text."""

    async def one(check: HealthCheck) -> str:
        try:
            await asyncio.wait_for(check.probe(), timeout)
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return "ok"

    results = await asyncio.gather(*(one(check) for check in checks))
    return {check.name: result for check, result in zip(checks, results, strict=True)}
