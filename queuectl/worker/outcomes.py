"""What a finished run means for its job: the outcome classification and the retry policy,
side by side. Pure: no I/O, no clock, no threads.

- A run that exited 0 completes the job.
- A failed run (non-zero exit, timeout, signal, could not start) and a lost run (its worker
  stopped heartbeating) count an attempt: the job is retried after the backoff delay while
  retries remain, else it goes to the DLQ (`dead`). A non-zero exit code that the job's
  `retry_on`/`no_retry_on` (or the config's) does not retry sends it to `dead` at once, its
  error saying why; failures without an exit code, and lost runs, are always retryable.
- A run interrupted by a hard shutdown does not count: the job goes back to pending.
- A run cancelled by a user ends the job `cancelled`: not retried, not dead.
"""

from __future__ import annotations

from dataclasses import dataclass

from queuectl import store
from queuectl.core import backoff
from queuectl.core.records import JobState
from queuectl.worker.runner import Outcome

__all__ = ["Decision", "cancelled_unstarted", "decide", "job_policy", "lost_run"]


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


def job_policy(job: store.Claimed) -> backoff.JobPolicy:
    """The policy fields a claimed job carries."""
    return backoff.JobPolicy(job.retry_on, job.no_retry_on, job.backoff_base)


def decide(job: store.Claimed, outcome: Outcome, policy: backoff.Policy) -> Decision:
    """Classify `outcome` of `job`'s run and apply the retry policy."""
    if outcome.interrupted and not outcome.cancelled:
        return Decision(job.id, job.run_id, outcome.duration, size=outcome.size)
    error = outcome.error
    if outcome.ok:
        state, delay = JobState.COMPLETED, 0.0
    elif outcome.cancelled:
        state, delay = JobState.CANCELLED, 0.0
    else:
        # A timeout carries no exit code, so it stays retryable whatever retry_on says.
        code = None if outcome.timed_out else outcome.exit_code
        state, delay, reason = backoff.after_failure(
            policy, attempts=job.attempts, max_retries=job.max_retries, exit_code=code,
            job=job_policy(job))
        if reason is not None:  # the run's own error keeps the command's last output line
            error = f"{reason}; {outcome.error}" if outcome.error else reason
    return Decision(job.id, job.run_id, outcome.duration, store.RunResult(
        job_id=job.id, run_id=job.run_id, state=state, exit_code=outcome.exit_code,
        error=error, output=outcome.output, output_truncated=outcome.truncated,
        duration=outcome.duration, retry_delay=delay,
    ), size=outcome.size)


def lost_run(run: store.ExpiredRun, policy: backoff.Policy) -> store.RunResult:
    """The result recorded for a run whose worker stopped heartbeating ("worker lost"): always
    retryable (no exit code), with the job's own backoff base and the config's jitter."""
    state, delay, _ = backoff.after_failure(
        policy, attempts=run.attempts, max_retries=run.max_retries,
        job=backoff.JobPolicy(backoff_base=run.backoff_base))
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
