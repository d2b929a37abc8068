"""Job states and the plain dataclasses the store returns, importable without SQLAlchemy (the
CLI parses and completes states, and formats jobs, without loading it). `queuectl.db.models`
re-exports them; its docstring says who moves a job into and out of each state."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from queuectl import errors

__all__ = ["MAX_OUTPUT", "Job", "JobState", "WorkerInfo"]

#: The most output the store keeps of a job (its last MiB); the runner captures this much.
MAX_OUTPUT = 1024 * 1024


class JobState(enum.StrEnum):
    """The states of a job; see the module docstring for who moves a job between them."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"
    HELD = "held"
    WAITING = "waiting"

    @property
    def finished(self) -> bool:
        """True for the states a job stays in until someone replays it."""
        return self in (JobState.COMPLETED, JobState.DEAD, JobState.CANCELLED)

    @classmethod
    def parse(cls, value: str | None) -> JobState | None:
        """A state name in any case (None for none), or a usage error listing the valid ones."""
        if not value:
            return None
        try:
            return cls(value.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise errors.UsageError(f"unknown state {value!r}; use one of: {names}") from None


@dataclass(frozen=True)
class Job:
    """One job as the store returns it; `duration` is in seconds, `timeout_ms` in ms."""

    id: str
    command: str
    state: JobState
    attempts: int
    max_retries: int
    priority: int
    run_at: datetime
    timeout_ms: int | None
    tags: list[str] = field(default_factory=list)
    exit_code: int | None = None
    error: str | None = None
    output: str | None = None
    output_truncated: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    worker_id: int | None = None
    paused_at: datetime | None = None
    retry_on: list[int] | None = None
    no_retry_on: list[int] | None = None
    backoff_base: float | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None
    queue: str = "default"
    unique_key: str | None = None
    after: list[str] = field(default_factory=list)
    cron_name: str | None = None


@dataclass(frozen=True)
class WorkerInfo:
    """A registered worker process and the jobs it is running now."""

    id: int
    host: str
    pid: int
    version: str
    concurrency: int
    state: str
    started_at: datetime
    heartbeat_at: datetime
    running: list[str] = field(default_factory=list)
    leader: bool = False
