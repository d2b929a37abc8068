"""Formatting shared by the command groups: JSON for scripts, tables and times for people."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer
from tabulate import tabulate

from queuectl.models import Job, WorkerInfo

__all__ = ["emit_json", "fmt_duration", "fmt_time", "job_json", "short", "table", "worker_json"]


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    return value.astimezone(UTC).isoformat() if value else None


def fmt_time(value: datetime | None) -> str:
    """`2026-11-22 05:13:52` in UTC, or `-`."""
    if not value:
        return "-"
    v = value.astimezone(UTC)
    return f"{v.year:04d}-{v:%m-%d %H:%M:%S}"  # %Y drops leading zeros before year 1000


def fmt_duration(seconds: float | None) -> str:
    """`0.123s`, `12.3s`, `4m05s`, or `-`."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.3f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s"


def short(text: str | None, n: int = 48) -> str:
    """One line, at most `n` characters."""
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


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


def emit_json(data: Any) -> None:
    """Print `data` as JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def table(rows: list[list[Any]], headers: list[str]) -> None:
    """Print a plain table on stdout."""
    typer.echo(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
