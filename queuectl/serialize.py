"""Jobs and workers as the stable JSON objects that scripts and the dashboard's API rely on.

Shared by the CLI (`--json`) and the dashboard, so neither imports the other. Times are
ISO 8601 in UTC; durations are seconds; `timeout` is milliseconds. Pure: no I/O, and only the
standard library at import time, so a fast CLI command can use it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queuectl.models import Job, WorkerInfo
    from queuectl.store.cron import Cron

__all__ = ["cron_json", "iso", "job_json", "worker_json"]


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    return value.astimezone(UTC).isoformat() if value else None


def job_json(job: Job) -> dict[str, Any]:
    """A job as the stable JSON object scripts rely on."""
    return {
        "id": job.id,
        "command": job.command,
        "state": job.state.value,
        "attempts": job.attempts,
        "max_retries": job.max_retries,
        "priority": job.priority,
        "run_at": iso(job.run_at),
        "timeout": job.timeout_ms,
        "tags": job.tags,
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
        "cron_name": job.cron_name,
    }


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


def cron_json(cron: Cron) -> dict[str, Any]:
    """A cron schedule as JSON; `template` is the job object it enqueues."""
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
    }
