"""The slot threads: each takes the next queued run from the run table, runs its command
through the runner, classifies the outcome (`outcomes.decide`) and puts the decision back.

Threading: `concurrency` slot threads call `RunTable.next_to_run`/`finish` and the runner;
they never touch the database. The main thread starts and joins them and may kill runs
through the runner at any time. Slots read the current config snapshot through `settings()`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from queuectl import store
from queuectl.worker import outcomes
from queuectl.worker.joblogs import JobLogs
from queuectl.worker.ports import Settings
from queuectl.worker.runner import Outcome, OutputSink
from queuectl.worker.runs import RunTable

__all__ = ["Executor", "RunnerLike", "job_environment"]

log = logging.getLogger("queuectl.worker")

class RunnerLike(Protocol):
    """What slots need of `queuectl.worker.runner.Runner` (unit tests pass a fake)."""

    def run(self, command: str, *, timeout: float | None = None, key: object = None,
            cwd: str | None = None, env: Mapping[str, str] | None = None,
            sink: OutputSink | None = None) -> Outcome: ...
    def kill(self, key: object) -> bool: ...
    def kill_all(self) -> int: ...
    def close(self) -> None: ...
    def signal(self, key: object, signum: int) -> bool: ...
    def pause(self, key: object) -> bool: ...
    def resume(self, key: object) -> bool: ...
    def cancel(self, key: object, signum: int, grace: float) -> bool: ...
    def read_output(self, key: object, offset: int, limit: int) -> bytes | None: ...
    def output_size(self, key: object) -> int | None: ...


def job_environment(job: store.Claimed) -> dict[str, str]:
    """The variables a job's command gets on top of the worker's environment: the job's own
    `env`, and where it is (jobspec refuses these names in `env`)."""
    return {
        **(job.env or {}),
        "QUEUECTL_JOB_ID": job.id,
        "QUEUECTL_ATTEMPT": str(job.attempts),
        "QUEUECTL_QUEUE": job.queue,
    }


def _short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


class Executor:
    """`concurrency` slot threads running the table's queued runs."""

    def __init__(self, table: RunTable, runner: RunnerLike, *, concurrency: int,
                 settings: Callable[[], Settings], job_logs: JobLogs | None = None) -> None:
        self.table = table
        self.runner = runner
        self.job_logs = job_logs  # `--job-log-dir`: each run's output in a file too
        self._settings = settings
        self._threads = [threading.Thread(target=self._slot, name=f"slot-{i}", daemon=True)
                         for i in range(concurrency)]

    def start(self) -> None:
        """Start the slot threads."""
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        """Wait for the slot threads to return (after `RunTable.close`) and stop the runner."""
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join()
        self.runner.close()

    def kill(self, run_id: int) -> bool:
        """Kill one run's process group (its lease was lost); its outcome is a failure."""
        return self.runner.kill(run_id)

    def kill_all(self) -> int:
        """Kill every running command (hard stop); those runs come back interrupted."""
        return self.runner.kill_all()

    def _slot(self) -> None:
        while (job := self.table.next_to_run()) is not None:
            self.table.finish(self.execute(job))

    def execute(self, job: store.Claimed) -> outcomes.Decision:
        """Run one claimed job and decide what its run means."""
        settings = self._settings()
        timeout_ms = job.timeout_ms or settings.job_timeout_ms
        log.info("job %s started (run %d of at most %d): %s", job.id, job.attempts,
                 job.max_retries + 1, _short(job.command))
        started = time.monotonic()
        run_log = None if self.job_logs is None else self.job_logs.start(
            job.id, attempt=job.attempts, attempts=job.max_retries + 1)
        try:
            outcome = self.runner.run(job.command, key=job.run_id,
                                      timeout=timeout_ms / 1000 if timeout_ms else None,
                                      cwd=job.cwd, env=job_environment(job),
                                      sink=None if run_log is None else run_log.feed)
        except Exception as exc:  # the runner must never take the worker down with it
            outcome = Outcome(False, None, f"worker error while running the job: {exc!r}",
                              "", False, time.monotonic() - started)
        if run_log is not None:
            run_log.finish(_ending(outcome))
        return outcomes.decide(job, outcome, settings.policy)


def _ending(outcome: Outcome) -> str:
    """How a run ended, for the footer of its log file."""
    how = "completed" if outcome.ok else (outcome.error or "failed")
    return f"{how} after {outcome.duration:.1f}s"
