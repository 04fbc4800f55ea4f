"""Plain-text rendering of an :class:`~postgate.operations.OperationsSnapshot` (``postgate status``)."""

from __future__ import annotations

import datetime

from .operations import RATE_WINDOW, BatchProgress, OperationsSnapshot, Quota, RouteStatus

#: Characters in a progress bar.
BAR_WIDTH = 24
#: Statuses named after the bar when a batch has rows in them (``delivered``/``sent`` go in the bar).
NOTABLE = ("failed", "suppressed", "retry", "sending", "queued")


def duration(seconds: float) -> str:
    """``seconds`` in the two largest units: ``45s``, ``3m 20s``, ``2h 05m``, ``1d 03h``."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """``[#####-----]`` filled in proportion to ``done`` of ``total``."""
    filled = width if total <= 0 else min(width, done * width // total)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def clock(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _printable(text: str) -> str:
    """Tags and ids come from API clients: escape what could steer the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def batch_label(batch: BatchProgress) -> str:
    """How an operator recognises a batch: Ghost's email id (else the batch id), tags, domain."""
    label = f"email-id {batch.email_id}" if batch.email_id else f"batch {batch.batch_id}"
    if batch.batch_count > 1:
        label += f" ({batch.batch_count} batches)"
    if batch.tags:
        label += " [" + ", ".join(batch.tags) + "]"
    return _printable(f"{label} on {batch.domain}")


def batch_line(batch: BatchProgress, now: float) -> str:
    """One line: bar, done of total, rate, ETA, the notable statuses, and the batch's label."""
    percent = 100 if batch.total <= 0 else batch.done * 100 // batch.total
    rate = "  -  /s" if batch.rate is None else f"{batch.rate:5.1f}/s"
    if batch.finished:
        eta = "finished"
    elif batch.deliver_at is not None and batch.deliver_at > now:
        eta = f"starts in {duration(batch.deliver_at - now)}"
    elif batch.eta_seconds is None:
        eta = "ETA unknown"
    else:
        eta = f"ETA {duration(batch.eta_seconds)}"
    notes = [f"{status} {batch.counts[status]}" for status in NOTABLE if batch.counts.get(status)]
    if batch.in_doubt:
        notes.append(f"in doubt {batch.in_doubt}")
    extra = f" ({', '.join(notes)})" if notes else ""
    return (f"  {progress_bar(batch.done, batch.total)} {batch.done:>7}/{batch.total:<7} {percent:3d}%  "
            f"{rate}  {eta:<14} {batch_label(batch)}{extra}")


def quota_line(quota: Quota | None) -> str:
    if quota is None:
        return "not reported by the delivery backend"
    parts = []
    if quota.max_24h is not None and quota.sent_24h is not None:
        parts.append(f"{quota.sent_24h:,.0f} of {quota.max_24h:,.0f} sent in 24 h ({quota.left_24h:,.0f} left)")
    elif quota.sent_24h is not None:
        parts.append(f"{quota.sent_24h:,.0f} sent in 24 h, no daily limit")
    if quota.max_rate is not None:
        parts.append(f"max {quota.max_rate:g}/s")
    return (", ".join(parts) or "no limits known") + f" (from {quota.source})"


def route_line(route: RouteStatus) -> str:
    """One route of the ``routes`` delivery: what it takes, its rate in use, its quota."""
    takes = "; ".join(route.takes) or "no rule sends to it"
    if route.max_rate is None:
        rate = "no rate limit of its own"
    elif route.window_sends is None:
        rate = f"rate {route.max_rate:g}/s (use unknown)"
    else:
        rate = (f"rate {route.max_rate:g}/s, {route.window_sends} of {route.window_budget} sends "
                f"in its sliding {route.window_seconds:g} s window")
    return f"    {_printable(route.name)}: {_printable(takes)}\n      {rate}; quota: {quota_line(route.quota)}"


def render(snapshot: OperationsSnapshot) -> str:
    """The whole status screen: one line per newsletter (see ``OperationsSnapshot.newsletters``)."""
    if snapshot.queue_depth is None:
        queue = "depth unknown"
    else:
        queue = f"{snapshot.queue_depth} job(s) waiting"
    if snapshot.oldest_job_age is not None:
        queue += f", oldest queued {duration(snapshot.oldest_job_age)} ago"
    dead = "not kept by this queue" if snapshot.dead_jobs is None else str(snapshot.dead_jobs)
    lines = [
        f"Postgate status at {clock(snapshot.taken_at)}",
        f"  queue:     {queue}",
        f"  in doubt:  {snapshot.in_doubt} recipient(s)",
        f"  dead jobs: {dead}",
        f"  quota:     {quota_line(snapshot.quota)}",
    ]
    if snapshot.routes:
        lines[-1] = f"  routes:    {len(snapshot.routes)} deliveries, each with its own rate and quota"
        lines.extend(route_line(route) for route in snapshot.routes)
    lines.append("")
    active = [b for b in snapshot.newsletters if not b.finished]
    finished = [b for b in snapshot.newsletters if b.finished]
    if not snapshot.newsletters:
        lines.append("No newsletters in flight.")
    else:
        lines.append(f"Newsletters in flight: {len(active)}" + (
            f" (and {len(finished)} finished in the last {RATE_WINDOW:.0f} s)" if finished else ""))
        lines.extend(batch_line(batch, snapshot.taken_at) for batch in [*active, *finished])
    return "\n".join(lines)
