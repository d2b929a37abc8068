"""The retry policy, pure. After failure number k of a job:

- k <= max_retries: the job becomes ``failed`` and runs again after
  ``min(backoff_base ** k, backoff_max)`` seconds;
- otherwise it becomes ``dead`` (the DLQ).
"""

from __future__ import annotations

from dataclasses import dataclass

from queuectl.models import JobState

__all__ = ["Policy", "after_failure", "delay"]


@dataclass(frozen=True)
class Policy:
    """The configured retry policy."""

    backoff_base: float = 2.0
    backoff_max: float = 3600.0


def delay(policy: Policy, failures: int) -> float:
    """Seconds to wait after failure number `failures` (1-based)."""
    try:
        raw = policy.backoff_base**failures
    except OverflowError:
        return policy.backoff_max
    return min(raw, policy.backoff_max)


def after_failure(policy: Policy, *, attempts: int, max_retries: int) -> tuple[JobState, float]:
    """The state a job moves to after its `attempts`-th run failed, and the delay before the
    next run (0 when dead)."""
    if attempts <= max_retries:
        return JobState.FAILED, delay(policy, attempts)
    return JobState.DEAD, 0.0
