"""The Operations page's figures, from the gateway's operations snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..heartbeats import worker_rows
from .domain_choice import domains
from .event_watch import Silence, ingest_lags, newest_provider_event


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 10 min``, ``1 d 3 h``; ``—`` when unknown."""
    if seconds is None:
        return "\u2014"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def number(value: float | None) -> str:
    if value is None:
        return "\u2014"
    return f"{value:,.0f}"


@dataclass(frozen=True, slots=True)
class NewsletterRow:
    label: str
    domain: str
    tags: list[str]
    total: int
    done: int
    percent: float
    in_doubt: int
    failed: int
    rate: str
    eta: str
    started: str
    rate_per_minute: float | None = None
    eta_seconds: float | None = None
    started_at: float | None = None


def _row(progress: Any) -> NewsletterRow:
    total = progress.total or 0
    percent = 100.0 * progress.done / total if total else 100.0
    rate = f"{progress.rate * 60:,.0f}/min" if progress.rate else "\u2014"
    return NewsletterRow(
        label=progress.email_id or f"batch {progress.batch_id}", domain=progress.domain,
        tags=list(progress.tags), total=total, done=progress.done, percent=round(percent, 1),
        in_doubt=progress.in_doubt, failed=progress.counts.get("failed", 0), rate=rate,
        eta=duration(progress.eta_seconds),
        started=datetime.fromtimestamp(progress.created_at, UTC).strftime("%b %d %H:%M UTC"),
        rate_per_minute=progress.rate * 60 if progress.rate else None, eta_seconds=progress.eta_seconds,
        started_at=progress.created_at,
    )


async def operations_page(gateway: Any, silence_seconds: float, alive_seconds: float = 60) -> dict[str, Any]:
    """Template context: the snapshot's figures as shown, newsletters in flight, worker loops
    alive (heartbeat within ``alive_seconds``), the event-ingest lag, and warnings (provider
    events silent for ``silence_seconds`` while sending, workers gone quiet); under ``raw`` the
    tiles' figures unformatted (what the page's CSV export writes)."""
    snap = await gateway.operations_snapshot()
    lags = await ingest_lags(gateway, snap)
    quiet = [lag for lag in lags if lag.seconds > silence_seconds]
    workers = await worker_rows(gateway, snap.taken_at, alive_seconds)
    alive = [w for w in workers if w.alive]
    quota = snap.quota
    per_minute = sum(b.rate or 0.0 for b in snap.batches) * 60
    max_per_minute = quota.max_rate * 60 if quota and quota.max_rate else None
    in_flight = getattr(snap, "newsletters", None) or snap.batches
    return {
        "taken_at": datetime.fromtimestamp(snap.taken_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "queue_depth": number(snap.queue_depth),
        "oldest_job_age": duration(snap.oldest_job_age),
        "in_doubt": number(snap.in_doubt),
        "dead_jobs": number(snap.dead_jobs),
        "send_rate": f"{per_minute:,.0f}",
        "max_rate": f"{max_per_minute:,.0f}" if max_per_minute else None,
        "rate_share": min(100.0, 100.0 * per_minute / max_per_minute) if max_per_minute else None,
        "quota": quota,
        "sent_24h": number(quota.sent_24h) if quota else "\u2014",
        "max_24h": number(quota.max_24h) if quota and quota.max_24h is not None else None,
        "quota_share": (min(100.0, 100.0 * quota.sent_24h / quota.max_24h)
                        if quota and quota.max_24h and quota.sent_24h is not None else None),
        "newsletters": [_row(p) for p in in_flight],
        "workers_alive": number(len(alive)),
        "workers": [_worker(w, snap.taken_at) for w in workers],
        **await _ingest(gateway, lags, snap.taken_at),
        "alerts": [*(_silence_text(q) for q in quiet), *_alerts(snap), *_worker_alerts(snap, workers, alive_seconds)],
        "raw": {"taken_at": snap.taken_at, "queue_depth": snap.queue_depth, "oldest_job_age": snap.oldest_job_age,
                "in_doubt": snap.in_doubt, "dead_jobs": snap.dead_jobs, "send_rate": per_minute,
                "max_rate": max_per_minute or None, "sent_24h": quota.sent_24h if quota else None,
                "max_24h": quota.max_24h if quota else None, "quota_source": quota.source if quota else None,
                "workers_alive": len(alive),
                "ingest_lag": max(0.0, max(lag.seconds for lag in lags)) if lags else None},
    }


async def _ingest(gateway: Any, lags: list[Silence], now: float) -> dict[str, Any]:
    """The event-ingest lag tile: the worst lag of the domains sending now; when none is
    sending, only how old the newest provider event is (no event is expected then)."""
    if lags:
        worst = max(lags, key=lambda lag: lag.seconds)
        return {"ingest_lag": duration(max(0.0, worst.seconds)),
                "ingest_note": f"on {worst.domain}, sending now" + ("" if worst.ever else "; no provider event yet")}
    newest = await newest_provider_event(gateway, domains(gateway))
    note = ("nothing sending; newest provider event " + duration(max(0.0, now - newest[1])) + f" ago on {newest[0]}"
            if newest else "nothing sending; no provider event yet")
    return {"ingest_lag": "\u2014", "ingest_note": note}


def _worker(row: Any, now: float) -> dict[str, Any]:
    seen, up = max(0.0, now - row.seen_at), max(0.0, now - row.started_at)
    return {"name": row.owner.partition("@")[0], "host": row.host, "pid": row.pid, "alive": row.alive,
            "seen": duration(seen), "up": duration(up), "seen_seconds": seen, "up_seconds": up}


def _worker_alerts(snap: Any, workers: list[Any], alive_seconds: float) -> list[str]:
    alerts = []
    silent = [w for w in workers if not w.alive]
    if silent:
        alerts.append(f"{len(silent):,} worker loop{'s' if len(silent) > 1 else ''} stopped sending heartbeats "
                      f"(no heartbeat for over {duration(alive_seconds)}) without stopping cleanly: "
                      "the process died or is stuck.")
    waiting = bool(snap.queue_depth) or any(not b.finished for b in snap.batches)
    if waiting and not any(w.alive for w in workers):
        alerts.append("No worker loop is alive while there is mail to send: start `postgate worker` "
                      "(or `postgate serve` with workers).")
    return alerts


def _silence_text(quiet: Silence) -> str:
    since = f"for {duration(quiet.seconds)}" if quiet.ever else f"since sending started {duration(quiet.seconds)} ago"
    return (f"Events stopped arriving for {quiet.domain}: no delivery, bounce or complaint event {since} "
            "while recipients are still being sent. Check the provider's event source (for SES: the "
            "configuration set, SNS topic and SQS queue).")


def _alerts(snap: Any) -> list[str]:
    alerts = []
    if snap.in_doubt:
        alerts.append(f"{snap.in_doubt:,} recipients are in doubt: a worker stopped while sending to them.")
    if snap.dead_jobs:
        alerts.append(f"{snap.dead_jobs:,} jobs are dead-lettered: see `postgate jobs`.")
    return alerts
