"""The fleet's upkeep, run by exactly one worker at a time: the leader, elected through the
database (`store.try_lead`) with a lease it renews at each heartbeat. When the leader dies or
is cut off, another worker takes over once the lease runs out.

The leader rescues expired runs (deciding retry or DLQ with `outcomes.lost_run`), drops
registrations that stopped heartbeating and live-output chunks of ended runs, and applies
`retention` once an hour. It also enqueues the cron schedules' due ticks
(`store.enqueue_due_crons`, exactly once per tick even if two workers briefly both think they
lead): at each heartbeat, and at the next tick the last pass announced, so that a job starts
within about a second of its tick.

Each chore goes on when another is refused by the server (`Gate.attempt`); a rescue the
server refuses is retried one run at a time, and a run refused alone goes to the DLQ with the
server's error, so one bad row never stops the rescue of the others.

Threading: main thread only.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from queuectl import errors, store
from queuectl.db.reconnect import Gate
from queuectl.worker import outcomes
from queuectl.worker.ports import Settings, Store

__all__ = ["Upkeep", "leader_lease"]

log = logging.getLogger("queuectl.worker")

PRUNE_EVERY = 3600.0
_FIRST_PRUNE = 60.0  # not while a fleet is starting up
_OUTPUT_KEPT = 60.0  # live-output chunks outlive their run this long, for late followers
_CRON_SLACK = 0.005


def leader_lease(settings: Settings) -> float:
    """How long one election holds: short enough that a successor (trying at each of its
    heartbeats) takes over within `lease_timeout`, long enough to survive a late heartbeat."""
    return max(settings.lease_timeout - settings.heartbeat_interval,
               2 * settings.heartbeat_interval)


class Upkeep:
    """Leader election and the leader's chores."""

    def __init__(self, db: Store, gate: Gate,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._gate = gate
        self._clock = clock
        self.leader = False
        self._next_prune = 0.0
        self._cron_at: float | None = None  # clock time of the next cron tick, when leading

    def tick(self, worker_id: int, settings: Settings) -> None:
        """Renew or seek leadership; if leading, do the chores (raises `Offline`)."""
        was = self.leader
        self.leader = False  # until the database says otherwise
        self.leader = bool(self._gate.attempt("the leader election", lambda: self._db.try_lead(
            worker_id=worker_id, lease_seconds=leader_lease(settings),
            stale_after=min(3 * settings.heartbeat_interval, settings.lease_timeout))))
        if self.leader != was:
            log.info("worker %s %s the fleet's upkeep", os.getpid(),
                     "now leads" if self.leader else "no longer leads")
            self._next_prune = self._clock() + _FIRST_PRUNE
        if self.leader:
            self._rescue(settings)
            self._gate.attempt("dropping stale workers", lambda: self._db.delete_stale_workers(
                older_than=max(settings.lease_timeout * 2, 60.0)))
            self._gate.attempt("dropping old live output", lambda: self._db.delete_finished_output(
                older_than=_OUTPUT_KEPT))
            self._maybe_prune(settings)
            self.cron()
        else:
            self._cron_at = None

    def cron_due(self) -> bool:
        """True when leading and a cron tick has come."""
        return self._cron_at is not None and self._clock() >= self._cron_at

    def cron_wait(self) -> float | None:
        """Seconds until the next cron tick (None when not leading or no schedule)."""
        return None if self._cron_at is None else max(0.0, self._cron_at - self._clock())

    def cron(self) -> None:
        """Enqueue the due cron ticks and note when the next comes (raises `Offline`)."""
        if not self.leader:
            return
        done = self._gate.attempt("the cron pass", self._db.enqueue_due_crons)
        if done is None:  # refused: the next heartbeat tries again
            self._cron_at = None
            return
        for name, job_id in done.enqueued:
            log.info("cron %s: enqueued job %s", name, job_id)
        # A little after the tick, so that the database's clock has passed it too.
        self._cron_at = None if done.next_in is None else \
            self._clock() + done.next_in + _CRON_SLACK

    def _rescue(self, settings: Settings) -> None:
        expired = self._gate.attempt("finding expired runs", self._db.expired_runs)
        if not expired:
            return
        results = [outcomes.lost_run(run, settings.policy) for run in expired]
        try:
            rescued = self._gate.call(lambda: self._db.rescue_runs(results=results))
        except errors.DatabaseError as exc:
            log.warning("rescuing %d run(s) was refused (%s); rescuing each alone",
                        len(results), exc)
            rescued = [job_id for r in results for job_id in self._rescue_alone(r)]
        for job_id in rescued:
            log.warning("job %s rescued: its worker stopped heartbeating", job_id)

    def _rescue_alone(self, result: store.RunResult) -> list[str]:
        """Rescue one run; one the server refuses goes to the DLQ with the server's error
        (refused again, or transient: left for the next pass, logged)."""
        try:
            return self._gate.call(lambda: self._db.rescue_runs(results=[result]))
        except errors.DatabaseError as exc:
            refusal = exc
        error = f"{result.error}; the database refused its rescue: {refusal}"
        moved = None if refusal.transient else self._gate.attempt(
            f"moving job {result.job_id} to the DLQ", lambda: self._db.abandon_run(
                job_id=result.job_id, run_id=result.run_id, error=error, lease_expired=True))
        if moved:
            log.error("job %s dead (moved to the DLQ): %s", result.job_id, error)
        else:
            self._gate.refused(f"rescuing job {result.job_id}", refusal)
        return []

    def _maybe_prune(self, settings: Settings) -> None:
        if settings.retention is None or self._clock() < self._next_prune:
            return
        self._next_prune = self._clock() + PRUNE_EVERY
        retention = settings.retention
        pruned = self._gate.attempt("pruning", lambda: self._db.prune(older_than=retention,
                                                                     wait=False))
        if pruned and any(pruned):
            log.info("pruned %d finished job(s) and %d metric row(s) older than %gs",
                     pruned[0], pruned[1], retention)

    def resign(self, worker_id: int) -> None:
        """Hand leadership back on a clean exit (raises `Offline`)."""
        if self.leader:
            self._gate.attempt("resigning the lead",
                               lambda: self._db.resign_leader(worker_id=worker_id))
            self.leader = False
            self._cron_at = None
