"""What a finished run means for its job: the outcome classification and the retry policy,
side by side. Pure: no I/O, no clock, no threads.

- A run that exited 0 completes the job.
- A failed run (non-zero exit, timeout, signal, could not start) and a lost run (its worker
  stopped heartbeating) count an attempt: the job is retried after the backoff delay while
  retries remain, else it goes to the DLQ (`dead`).
- A run interrupted by a hard shutdown does not count: the job goes back to pending.
- A run cancelled by a user ends the job `cancelled`: not retried, not dead.
"""

from __future__ import annotations

from dataclasses import dataclass

from queuectl import backoff, store
from queuectl.models import JobState
from queuectl.runner import Outcome

__all__ = ["Decision", "cancelled_unstarted", "decide", "lost_run"]


@dataclass(frozen=True)
class Decision:
    """What to write for one run: a result, or (`requeue`) put the job back uncounted."""

    job_id: str
    run_id: int
    duration: float
    result: store.RunResult | None = None
    size: int = 0  # bytes of output the run wrote in all

    @property
    def requeue(self) -> bool:
        """True when the run was interrupted and its job goes back to pending."""
        return self.result is None


def _after_failure(policy: backoff.Policy, attempts: int,
                   max_retries: int) -> tuple[JobState, float]:
    return backoff.after_failure(policy, attempts=attempts, max_retries=max_retries)


def decide(job: store.Claimed, outcome: Outcome, policy: backoff.Policy) -> Decision:
    """Classify `outcome` of `job`'s run and apply the retry policy."""
    if outcome.interrupted and not outcome.cancelled:
        return Decision(job.id, job.run_id, outcome.duration, size=outcome.size)
    if outcome.ok:
        state, delay = JobState.COMPLETED, 0.0
    elif outcome.cancelled:
        state, delay = JobState.CANCELLED, 0.0
    else:
        state, delay = _after_failure(policy, job.attempts, job.max_retries)
    return Decision(job.id, job.run_id, outcome.duration, store.RunResult(
        job_id=job.id, run_id=job.run_id, state=state, exit_code=outcome.exit_code,
        error=outcome.error, output=outcome.output, output_truncated=outcome.truncated,
        duration=outcome.duration, retry_delay=delay,
    ), size=outcome.size)


def lost_run(run: store.ExpiredRun, policy: backoff.Policy) -> store.RunResult:
    """The result recorded for a run whose worker stopped heartbeating ("worker lost")."""
    state, delay = _after_failure(policy, run.attempts, run.max_retries)
    who = f"worker {run.worker_id} (pid {run.pid} on {run.host})" if run.host else "its worker"
    return store.RunResult(
        job_id=run.id, run_id=run.run_id, state=state, exit_code=None,
        error=f"worker lost: {who} stopped heartbeating; the run was abandoned",
        output=None, output_truncated=False, duration=run.ran_for, retry_delay=delay,
    )


def cancelled_unstarted(job: store.Claimed) -> Decision:
    """A claimed run cancelled before any slot started it."""
    return Decision(job.id, job.run_id, 0.0, store.RunResult(
        job_id=job.id, run_id=job.run_id, state=JobState.CANCELLED, exit_code=None,
        error="cancelled before it started", output=None, output_truncated=False,
        duration=0.0, retry_delay=0.0,
    ))
