"""The retry policy, pure (randomness comes in through an argument). After failure number k of
a job:

- a failure whose exit code the job's policy does not retry (`retry_on`/`no_retry_on`, the
  job's own or else the config's) makes the job ``dead`` at once; a failure without an exit
  code (timeout, signal, could not start, worker lost) is always retryable;
- k <= max_retries: the job becomes ``failed`` and runs again after
  ``min(base ** k, backoff_max) * U(1 - jitter, 1 + jitter)`` seconds, `base` being the job's
  `backoff_base` or else the config's;
- otherwise it becomes ``dead`` (the DLQ).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from queuectl.core.records import JobState

__all__ = ["JobPolicy", "Policy", "after_failure", "delay", "not_retried"]


@dataclass(frozen=True)
class Policy:
    """The configured retry policy. `retry_on`/`no_retry_on` (at most one is used: `retry_on`
    wins) apply to jobs that set neither; None means "not set"."""

    backoff_base: float = 2.0
    backoff_max: float = 3600.0
    jitter: float = 0.0
    retry_on: tuple[int, ...] | None = None
    no_retry_on: tuple[int, ...] | None = None


@dataclass(frozen=True)
class JobPolicy:
    """One job's own policy fields (None: the config's applies)."""

    retry_on: tuple[int, ...] | None = None
    no_retry_on: tuple[int, ...] | None = None
    backoff_base: float | None = None


_NO_JOB_POLICY = JobPolicy()


def delay(policy: Policy, failures: int, *, base: float | None = None,
          rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failure number `failures` (1-based): `base ** failures` (`base`
    defaults to the config's), capped at `backoff_max`, then times a factor drawn uniformly
    from [1 - jitter, 1 + jitter] (`rand()` is uniform in [0, 1))."""
    base = policy.backoff_base if base is None else base
    try:
        raw = min(base**failures, policy.backoff_max)
    except OverflowError:
        raw = policy.backoff_max
    if policy.jitter:
        raw *= 1 - policy.jitter + 2 * policy.jitter * rand()
    return raw


def not_retried(policy: Policy, job: JobPolicy, exit_code: int | None) -> str | None:
    """Why a failure that exited with `exit_code` is not retried (None if it may be). A
    failure without an exit code (timeout, signal, could not start, lost) always may."""
    if exit_code is None or exit_code == 0:
        return None
    if job.retry_on is not None or job.no_retry_on is not None:
        retry_on, no_retry_on, whose = job.retry_on, job.no_retry_on, "the job's"
    else:
        retry_on, no_retry_on, whose = policy.retry_on, policy.no_retry_on, "config"
    if retry_on is not None and exit_code not in retry_on:
        codes = ", ".join(map(str, retry_on)) or "none"
        return f"exit code {exit_code} is not retried ({whose} retry_on: {codes})"
    if retry_on is None and no_retry_on is not None and exit_code in no_retry_on:
        return f"exit code {exit_code} is not retried ({whose} no_retry_on)"
    return None


def after_failure(policy: Policy, *, attempts: int, max_retries: int,
                  exit_code: int | None = None, job: JobPolicy = _NO_JOB_POLICY,
                  rand: Callable[[], float] = random.random,
                  ) -> tuple[JobState, float, str | None]:
    """The state a job moves to after its `attempts`-th run failed (with `exit_code`, None
    for a failure without one), the delay before the next run (0 when dead), and why it is
    dead before its retries ran out (None otherwise)."""
    reason = not_retried(policy, job, exit_code)
    if reason is not None:
        return JobState.DEAD, 0.0, reason
    if attempts <= max_retries:
        return JobState.FAILED, delay(policy, attempts, base=job.backoff_base, rand=rand), None
    return JobState.DEAD, 0.0, None
