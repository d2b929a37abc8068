"""Jobs and workers as the stable JSON objects that scripts and the dashboard's API rely on.

Shared by the CLI (`--json`) and the dashboard, so neither imports the other. Times are
ISO 8601 in UTC; durations are seconds; `timeout` is milliseconds. Pure: no I/O, and only the
standard library at import time, so a fast CLI command can use it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queuectl.core.records import Job, WorkerInfo
    from queuectl.store.cron import Cron
    from queuectl.store.dashboard import Overview
    from queuectl.store.queues import QueueInfo

__all__ = ["cron_json", "iso", "job_json", "metrics_json", "queue_json", "worker_json"]


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    return value.astimezone(UTC).isoformat() if value else None


def job_json(job: Job, *, env_values: bool = False) -> dict[str, Any]:
    """A job as the stable JSON object scripts rely on. Its `env` values (which may hold
    secrets) are in it only with `env_values`; `env_names` always is."""
    data: dict[str, Any] = {
        "id": job.id,
        "command": job.command,
        "queue": job.queue,
        "state": job.state.value,
        "attempts": job.attempts,
        "max_retries": job.max_retries,
        "priority": job.priority,
        "run_at": iso(job.run_at),
        "timeout": job.timeout_ms,
        "tags": job.tags,
        "unique_key": job.unique_key,
        "after": job.after,
        "exit_code": job.exit_code,
        "error": job.error,
        "output": job.output,
        "output_truncated": job.output_truncated,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "duration": job.duration,
        "paused_at": iso(job.paused_at),
        "retry_on": job.retry_on,
        "no_retry_on": job.no_retry_on,
        "backoff_base": job.backoff_base,
        "cwd": job.cwd,
        "env_names": sorted(job.env or {}),
        "cron_name": job.cron_name,
    }
    if env_values:
        data["env"] = dict(sorted((job.env or {}).items()))
    return data


def worker_json(worker: WorkerInfo) -> dict[str, Any]:
    """A live worker as JSON."""
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "version": worker.version,
        "concurrency": worker.concurrency,
        "state": worker.state,
        "started_at": iso(worker.started_at),
        "heartbeat_at": iso(worker.heartbeat_at),
        "running": worker.running,
        "leader": worker.leader,
    }


def metrics_json(overview: Overview) -> dict[str, Any]:
    """The metrics of one overview (`store.dashboard_overview`) as the JSON object of
    `metrics --json` and `metrics serve`'s /metrics.json: counts, runs by outcome and
    throughput over the window, durations, queue depth, the oldest wait, live workers."""
    runs = {outcome: sum(getattr(m, outcome) for m in overview.throughput)
            for outcome in ("completed", "failed", "dead")}
    minutes = overview.window_minutes
    return {
        "counts": overview.counts,
        "total": overview.total,
        "window_minutes": minutes,
        "runs": runs,
        "throughput_per_minute": round(runs["completed"] / minutes, 3),
        "avg_duration": overview.avg_duration,
        "p95_duration": overview.p95_duration,
        "queue_depth": overview.queue_depth,
        "oldest_waiting_age": overview.oldest_waiting_age,
        "live_workers": len(overview.workers),
    }


def queue_json(queue: QueueInfo) -> dict[str, Any]:
    """A named queue with its counts and settings (None: no limit; rate as `N/s|m|h`)."""
    return {
        "name": queue.name,
        "pending": queue.pending,
        "running": queue.running,
        "failed": queue.failed,
        "dead": queue.dead,
        "concurrency": queue.concurrency,
        "rate": None if queue.rate is None else str(queue.rate),
        "paused": queue.paused,
    }


def cron_json(cron: Cron) -> dict[str, Any]:
    """A cron schedule as JSON; `template` is the job object it enqueues; `error` says why
    this host cannot evaluate its schedule (null when it can)."""
    import json

    return {
        "name": cron.name,
        "schedule": cron.schedule,
        "zone": cron.zone,
        "template": json.loads(cron.template),
        "paused": cron.paused,
        "created_at": iso(cron.created_at),
        "next_run": iso(cron.next_run),
        "last_run": iso(cron.last_run_at),
        "last_job_id": cron.last_job_id,
        "last_job_state": cron.last_job_state,
        "error": cron.error,
    }
