"""Which signals a user may send a running job with `signal` (the CLI, and any caller of
`store.signal_job`). Pure: no I/O.

The job-control signals are refused: SIGSTOP and SIGTSTP (and SIGTTIN, SIGTTOU, which stop a
process group too) would stop a job the store still calls running, its timeout clock going on;
SIGCONT would restart a paused job while the store still says paused, its timeout clock
stopped. `pause` and `resume` send them and keep the job's state and clocks with them.
"""

from __future__ import annotations

import signal

from queuectl import errors

__all__ = ["JOB_CONTROL", "check_user_signal"]

#: Signals only `pause` and `resume` send a job.
JOB_CONTROL = frozenset({signal.SIGSTOP, signal.SIGCONT, signal.SIGTSTP, signal.SIGTTIN,
                         signal.SIGTTOU})


def check_user_signal(signum: int) -> None:
    """Raise a usage error if `signum` is a job-control signal (see the module docstring)."""
    if signum in JOB_CONTROL:
        name = signal.Signals(signum).name
        raise errors.UsageError(
            f"{name} is not sent with `signal`: it would leave the job's state and timeout "
            "clock wrong; use `queuectl pause ID` or `queuectl resume ID`")
