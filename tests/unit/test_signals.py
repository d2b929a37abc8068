"""Which signals `signal` may send a job (`core.signals`): not the job-control ones."""

from __future__ import annotations

import signal

import pytest

from queuectl import errors
from queuectl.core import signals


@pytest.mark.parametrize("name", ["SIGSTOP", "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU"])
def test_job_control_signals_are_refused_with_pause_and_resume_named(name):
    with pytest.raises(errors.UsageError, match="queuectl pause ID.*queuectl resume ID"):
        signals.check_user_signal(int(signal.Signals[name]))


@pytest.mark.parametrize("name", ["SIGHUP", "SIGINT", "SIGTERM", "SIGUSR1", "SIGKILL"])
def test_other_signals_pass(name):
    signals.check_user_signal(int(signal.Signals[name]))
