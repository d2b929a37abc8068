"""Steering jobs from any host: cancel, signal, pause, resume, retry; the fleet's claiming
switch; the control requests workers take; live output chunks; stop requests for workers.

A request for a running job is a row in `controls` plus a NOTIFY: the worker running it takes
it at once when it hears the NOTIFY (directly or through its host's relay) and, as the safety
net, at its next heartbeat. Every call that names several jobs is all or nothing: an unknown
id or a job in a state that does not fit changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from queuectl import errors
from queuectl.core import signals
from queuectl.core.records import MAX_OUTPUT
from queuectl.db.models import Job, JobState, WorkerInfo
from queuectl.store._common import (
    NOTIFY_CHANNEL,
    _autocommit,
    _get_job,
    _job,
    _live_within,
    _workers,
    fetch,
    run,
)
from queuectl.store.jobs import _refuse_taken_keys, _retry_states
from queuectl.store.statements import control as control_sql
from queuectl.store.statements import jobs as jobs_sql

__all__ = [
    "Control",
    "OutputRead",
    "Steered",
    "append_output",
    "cancel_jobs",
    "claiming_paused",
    "claiming_paused_since",
    "delete_finished_output",
    "live_workers",
    "pause_jobs",
    "read_output",
    "request_worker_stop",
    "resume_jobs",
    "retry_jobs",
    "set_claiming",
    "signal_job",
    "take_controls",
]

#: NOTIFY payload that makes workers take their control requests now.
CONTROL_PAYLOAD = "control"
#: NOTIFY payload that makes workers heartbeat now (a stop request may be waiting).
STOP_PAYLOAD = "stop"


@dataclass(frozen=True)
class Control:
    """A request for the worker running `run_id`."""

    id: int
    job_id: str
    run_id: int
    action: str  # cancel | signal | pause | resume
    signal: int | None


@dataclass(frozen=True)
class Steered:
    """What a steering call did to one job: its state now and one line saying what happened."""

    job_id: str
    state: JobState
    note: str
    requested: bool = False  # a request went to the worker running it


@dataclass(frozen=True)
class OutputRead:
    """A job and its live output chunks after a given chunk id (for the current run)."""

    job: Job
    run_id: int | None
    chunks: list[tuple[int, str]]


def _notify(conn: sa.Connection, payload: str) -> None:
    fetch(conn, jobs_sql.job_wake_notify, {"ch": NOTIFY_CHANNEL, "p": payload})


def _lock_jobs(conn: sa.Connection, ids: Sequence[str]) -> list[tuple[Job, int | None]]:
    """Resolve ids (or unique prefixes) and lock the rows; raises before anything changes."""
    if not ids:
        raise errors.UsageError("give at least one job id")
    resolved = list(dict.fromkeys(_get_job(conn, i).id for i in ids))
    rows = fetch(conn, control_sql.job_lock_many, {"ids": resolved})
    by_id = {r.id: (_job(r), r.current_run) for r in rows}
    missing = [i for i in resolved if i not in by_id]
    if missing:
        raise errors.JobNotFound(f"no job with id {missing[0]!r} (it was just deleted)")
    return [by_id[i] for i in resolved]


def _refuse(jobs: list[tuple[Job, int | None]], allowed: set[JobState], verb: str) -> None:
    for job, _ in jobs:
        if job.state not in allowed:
            names = ", ".join(sorted(s.value for s in allowed))
            raise errors.InvalidState(
                f"cannot {verb} job {job.id}: it is {job.state.value} (only {names} jobs); "
                "nothing was changed")


def _request(conn: sa.Connection, job: Job, run_id: int | None, action: str,
             signal: int | None) -> None:
    run(conn, control_sql.control_insert,
        {"job_id": job.id, "run_id": run_id, "action": action, "signal": signal})


_SET_STATE = control_sql.job_set_state


def cancel_jobs(engine: sa.Engine, *, ids: Sequence[str], signal: int) -> list[Steered]:
    """Cancel jobs: waiting ones (pending, failed, held, waiting) become `cancelled` at once; the
    worker running a processing one sends its process group `signal` (SIGKILL after a grace)
    and records it `cancelled`."""
    waiting = {JobState.PENDING, JobState.FAILED, JobState.HELD, JobState.WAITING}
    with engine.begin() as conn:
        jobs = _lock_jobs(conn, ids)
        _refuse(jobs, waiting | {JobState.PROCESSING}, "cancel")
        answers = []
        for job, run_id in jobs:
            if job.state is JobState.PROCESSING:
                _request(conn, job, run_id, "cancel", signal)
                answers.append(Steered(job.id, job.state, "cancel requested", requested=True))
                continue
            run(conn, _SET_STATE, {"state": JobState.CANCELLED.value, "final": True,
                                      "error": f"cancelled while {job.state.value}",
                                      "id": job.id})
            answers.append(Steered(job.id, JobState.CANCELLED, "cancelled"))
        if any(a.requested for a in answers):
            _notify(conn, CONTROL_PAYLOAD)
    return answers


def signal_job(engine: sa.Engine, *, job_id: str, signal: int) -> Steered:
    """Ask the worker running `job_id` to send `signal` to its process group; a job-control
    signal is refused (`core.signals`: `pause_jobs` and `resume_jobs` send those)."""
    signals.check_user_signal(signal)
    with engine.begin() as conn:
        [(job, run_id)] = _lock_jobs(conn, [job_id])
        _refuse([(job, run_id)], {JobState.PROCESSING}, "signal")
        _request(conn, job, run_id, "signal", signal)
        _notify(conn, CONTROL_PAYLOAD)
    return Steered(job.id, job.state, "signal requested", requested=True)


def pause_jobs(engine: sa.Engine, *, ids: Sequence[str]) -> list[Steered]:
    """Pause jobs: a running one's process group gets SIGSTOP (its lease is kept alive); a
    waiting one (pending, failed) is held: never claimed until resumed."""
    with engine.begin() as conn:
        jobs = _lock_jobs(conn, ids)
        _refuse(jobs, {JobState.PENDING, JobState.FAILED, JobState.HELD,
                       JobState.PROCESSING}, "pause")
        answers = []
        for job, run_id in jobs:
            if job.state is JobState.PROCESSING:
                _request(conn, job, run_id, "pause", None)
                run(conn, control_sql.job_mark_paused, {"id": job.id})
                answers.append(Steered(job.id, job.state, "pause requested", requested=True))
            elif job.state is JobState.HELD:
                answers.append(Steered(job.id, job.state, "already held"))
            else:
                run(conn, _SET_STATE, {"state": JobState.HELD.value, "final": False,
                                          "error": None, "id": job.id})
                answers.append(Steered(job.id, JobState.HELD, "held"))
        if any(a.requested for a in answers):
            _notify(conn, CONTROL_PAYLOAD)
    return answers


def resume_jobs(engine: sa.Engine, *, ids: Sequence[str]) -> list[Steered]:
    """Resume paused jobs: SIGCONT to a paused running one; a held one becomes pending."""
    with engine.begin() as conn:
        jobs = _lock_jobs(conn, ids)
        for job, _ in jobs:
            if not (job.state is JobState.HELD or
                    (job.state is JobState.PROCESSING and job.paused_at is not None)):
                raise errors.InvalidState(
                    f"cannot resume job {job.id}: it is {job.state.value}, not paused or held; "
                    "nothing was changed")
        answers = []
        for job, run_id in jobs:
            if job.state is JobState.PROCESSING:
                _request(conn, job, run_id, "resume", None)
                run(conn, control_sql.job_clear_paused, {"id": job.id})
                answers.append(Steered(job.id, job.state, "resume requested", requested=True))
            else:
                run(conn, _SET_STATE, {"state": JobState.PENDING.value, "final": False,
                                          "error": None, "id": job.id})
                answers.append(Steered(job.id, JobState.PENDING, "pending again"))
        _notify(conn, CONTROL_PAYLOAD if any(a.requested for a in answers) else "")
    return answers


def retry_jobs(engine: sa.Engine, *, ids: Sequence[str]) -> list[Steered]:
    """Put finished jobs (completed, dead, cancelled) back to pending with attempts reset, or
    to waiting while one of their `after` jobs has not completed or is retried with them (a
    chain retried together runs again in order). Refused while another job holds the
    unique_key of one of them, or while one of their `after` jobs is dead or cancelled and
    not retried with them (the job would wait for ever)."""
    with engine.begin() as conn:
        jobs = _lock_jobs(conn, ids)
        for job, _ in jobs:
            if not job.state.finished:
                raise errors.InvalidState(
                    f"cannot retry job {job.id}: it is {job.state.value}, not dead, completed "
                    "or cancelled; nothing was changed")
        _refuse_taken_keys(conn, [j.id for j, _ in jobs])
        states = _retry_states(conn, [j.id for j, _ in jobs])
        try:
            rows = fetch(conn, control_sql.job_retry_finished_many, {
                "ids": list(states), "states": [s.value for s in states.values()]})
        except sa_exc.IntegrityError:
            raise errors.InvalidState(
                "cannot retry: two of these jobs have the same unique_key; retry one of them; "
                "nothing was changed") from None
        _notify(conn, "")
    now = {r.id: JobState(r.state) for r in rows}
    return [Steered(j.id, now[j.id], f"{now[j.id].value} again (was {j.state.value})")
            for j, _ in jobs]


def set_claiming(engine: sa.Engine, *, paused: bool, client: str = "unknown client") -> None:
    """Stop (paused=True) or restart claiming across the whole fleet; a pause records the
    database login and `client` (as the client reports itself: OS user@host, the dashboard)."""
    with engine.begin() as conn:
        if paused:
            run(conn, control_sql.switch_pause_claiming, {"client": client})
        else:
            run(conn, control_sql.switch_resume_claiming)
            _notify(conn, "")


def claiming_paused(engine: sa.Engine) -> bool:
    """True while `pause --all` holds."""
    with engine.connect() as conn:
        return fetch(conn, control_sql.switch_claiming_paused)[0].paused is True


def claiming_paused_since(engine: sa.Engine) -> tuple[datetime, str | None] | None:
    """Since when `pause --all` holds (its first pause) and who paused, or None while the
    fleet claims."""
    with engine.connect() as conn:
        rows = fetch(conn, control_sql.switch_claiming_paused_since)
    return (rows[0].since, rows[0].by) if rows else None


def take_controls(engine: sa.Engine, *, run_ids: Sequence[int]) -> list[Control]:
    """The untaken requests for these runs, marked taken, oldest first."""
    if not run_ids:
        return []
    with _autocommit(engine).connect() as conn:
        rows = fetch(conn, control_sql.control_take_for_runs, {"runs": list(run_ids)})
    return sorted((Control(**r._asdict()) for r in rows), key=lambda c: c.id)


def append_output(engine: sa.Engine, *, chunks: Sequence[tuple[str, int, str]]) -> None:
    """Store (job id, run id, text) chunks of running jobs' output, fenced on run_id; keeps
    the last 1 MiB per job."""
    if not chunks:
        return
    with _autocommit(engine).begin() as conn:
        ids = [r.job_id for r in fetch(conn, control_sql.job_output_append_if_running_many, {
            "ids": [c[0] for c in chunks], "runs": [c[1] for c in chunks],
            "chunks": [c[2] for c in chunks]})]
        if ids:
            run(conn, control_sql.job_output_trim_many, {"ids": ids, "keep": MAX_OUTPUT})


def delete_finished_output(engine: sa.Engine, *, older_than: float) -> int:
    """Drop live-output chunks of runs that ended more than `older_than` seconds ago (the
    final output is in `jobs.output`); returns how many."""
    with _autocommit(engine).connect() as conn:
        return run(conn, control_sql.job_output_delete_finished, {"s": older_than})


def read_output(engine: sa.Engine, *, job_id: str, after: int = 0) -> OutputRead:
    """The job, and the output chunks of its current run with ids above `after`."""
    with engine.connect() as conn:
        job = _get_job(conn, job_id)
        current = fetch(conn, control_sql.job_get_run, {"id": job.id})
        run_id = current[0].run_id if current else None
        rows = fetch(conn, control_sql.job_output_list_after,
                     {"id": job.id, "run": run_id, "after": after})
    return OutputRead(job, run_id, [(r.id, r.chunk) for r in rows])


def request_worker_stop(engine: sa.Engine, *, host: str | None,
                        grace: float | None) -> list[WorkerInfo]:
    """Ask the live workers of `host` (None: every host) to stop, gracefully (running jobs
    finish) or killing what still runs after `grace` seconds; returns them."""
    with engine.begin() as conn:
        workers = [w for w in _workers(conn, _live_within(conn))
                   if host is None or w.host == host]
        if workers:
            run(conn, control_sql.worker_request_stop_many,
                {"grace": grace, "ids": [w.id for w in workers]})
            _notify(conn, STOP_PAYLOAD)
    return workers


def live_workers(engine: sa.Engine, *, ids: Sequence[int]) -> list[int]:
    """Which of these workers are still registered and heartbeating."""
    with engine.connect() as conn:
        return sorted(w.id for w in _workers(conn, _live_within(conn)) if w.id in set(ids))
