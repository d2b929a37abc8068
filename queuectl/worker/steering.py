"""Requests from users for this worker's runs: cancel, signal, pause, resume (`queuectl
cancel/signal/pause/resume` on any host). Taken from the database when a NOTIFY says there
are some, and at every heartbeat as the safety net.

Threading: main thread only; it acts on runs through the run table and the runner, both
thread-safe.
"""

from __future__ import annotations

import logging
import signal

from queuectl import store
from queuectl.db.reconnect import Gate
from queuectl.worker import outcomes
from queuectl.worker.completer import Completer
from queuectl.worker.executor import RunnerLike
from queuectl.worker.ports import Store
from queuectl.worker.runs import RunTable

__all__ = ["CANCEL_GRACE", "Steering"]

log = logging.getLogger("queuectl.worker")

#: A cancelled run's process group gets SIGKILL this long after the cancel signal.
CANCEL_GRACE = 2.0


def _name(signum: int | None) -> str:
    try:
        return signal.Signals(signum or 0).name
    except ValueError:
        return f"signal {signum}"


class Steering:
    """Takes control requests and applies them."""

    def __init__(self, db: Store, gate: Gate, table: RunTable, runner: RunnerLike,
                 completer: Completer) -> None:
        self._db = db
        self._gate = gate
        self._table = table
        self._runner = runner
        self._completer = completer

    def take(self) -> None:
        """Take the pending requests for this worker's runs and apply them (raises
        `Offline`)."""
        run_ids = self._table.run_ids()
        if not run_ids:
            return
        taken = self._gate.attempt("taking control requests",
                                   lambda: self._db.take_controls(run_ids=run_ids))
        for control in taken or []:
            self.apply(control)

    def apply(self, c: store.Control) -> None:
        """Apply one request to its run."""
        if c.action == "cancel":
            queued = self._table.remove_queued(c.run_id)
            if queued is not None:
                self._completer.add([outcomes.cancelled_unstarted(queued)])
                log.info("job %s cancelled before it started", c.job_id)
                return
            sig = c.signal or signal.SIGTERM
            if self._runner.cancel(c.run_id, sig, CANCEL_GRACE):
                log.info("job %s: cancel requested; %s sent to its process group", c.job_id,
                         _name(sig))
            return
        done = {
            "signal": lambda: self._runner.signal(c.run_id, c.signal or signal.SIGTERM),
            "pause": lambda: self._runner.pause(c.run_id),
            "resume": lambda: self._runner.resume(c.run_id),
        }[c.action]()
        what = _name(c.signal) if c.action == "signal" else c.action
        if done:
            log.info("job %s: %s applied to its process group", c.job_id, what)
        else:
            log.info("job %s: %s ignored: the run already ended", c.job_id, what)
