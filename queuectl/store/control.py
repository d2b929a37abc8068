"""Steering jobs from any host: cancel, signal, pause, resume, retry; the fleet's claiming
switch; the control requests workers take; live output chunks; stop requests for workers.

A request for a running job is a row in `controls` plus a NOTIFY: the worker running it takes
it at once when it hears the NOTIFY (directly or through its host's relay) and, as the safety
net, at its next heartbeat. Every call that names several jobs is all or nothing: an unknown
id or a job in a state that does not fit changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from queuectl import errors
from queuectl.core.records import MAX_OUTPUT
from queuectl.db.models import Job, JobState, WorkerInfo
from queuectl.store import sql
from queuectl.store._common import (
    NOTIFY_CHANNEL,
    _autocommit,
    _get_job,
    _job,
    _live_within,
    _workers,
)
from queuectl.store.jobs import _refuse_taken_keys

__all__ = [
    "Control",
    "OutputRead",
    "Steered",
    "append_output",
    "cancel_jobs",
    "claiming_paused",
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
    conn.execute(sa.text("SELECT pg_notify(:ch, :p)"), {"ch": NOTIFY_CHANNEL, "p": payload})


def _lock_jobs(conn: sa.Connection, ids: Sequence[str]) -> list[tuple[Job, int | None]]:
    """Resolve ids (or unique prefixes) and lock the rows; raises before anything changes."""
    if not ids:
        raise errors.UsageError("give at least one job id")
    resolved = list(dict.fromkeys(_get_job(conn, i).id for i in ids))
    rows = conn.execute(sa.text("SELECT *, run_id AS current_run FROM jobs "
                                "WHERE id = ANY(:ids) FOR UPDATE"), {"ids": resolved}).all()
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
    conn.execute(sa.text("INSERT INTO controls (job_id, run_id, action, signal) "
                         "VALUES (:j, :r, :a, :s)"),
                 {"j": job.id, "r": run_id, "a": action, "s": signal})


_SET_STATE = sa.text(
    "UPDATE jobs SET state = :state, updated_at = now(), "
    "finished_at = CASE WHEN :final THEN now() ELSE finished_at END, "
    "error = coalesce(:error, error) WHERE id = :id")


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
            conn.execute(_SET_STATE, {"state": JobState.CANCELLED.value, "final": True,
                                      "error": f"cancelled while {job.state.value}",
                                      "id": job.id})
            answers.append(Steered(job.id, JobState.CANCELLED, "cancelled"))
        if any(a.requested for a in answers):
            _notify(conn, CONTROL_PAYLOAD)
    return answers


def signal_job(engine: sa.Engine, *, job_id: str, signal: int) -> Steered:
    """Ask the worker running `job_id` to send `signal` to its process group."""
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
                conn.execute(sa.text("UPDATE jobs SET paused_at = coalesce(paused_at, now()) "
                                     "WHERE id = :id"), {"id": job.id})
                answers.append(Steered(job.id, job.state, "pause requested", requested=True))
            elif job.state is JobState.HELD:
                answers.append(Steered(job.id, job.state, "already held"))
            else:
                conn.execute(_SET_STATE, {"state": JobState.HELD.value, "final": False,
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
                conn.execute(sa.text("UPDATE jobs SET paused_at = NULL WHERE id = :id"),
                             {"id": job.id})
                answers.append(Steered(job.id, job.state, "resume requested", requested=True))
            else:
                conn.execute(_SET_STATE, {"state": JobState.PENDING.value, "final": False,
                                          "error": None, "id": job.id})
                answers.append(Steered(job.id, JobState.PENDING, "pending again"))
        _notify(conn, CONTROL_PAYLOAD if any(a.requested for a in answers) else "")
    return answers


def retry_jobs(engine: sa.Engine, *, ids: Sequence[str]) -> list[Steered]:
    """Put finished jobs (completed, dead, cancelled) back to pending with attempts reset, or
    to waiting while one of their `after` jobs has not completed (a retried chain runs again
    in order). Refused while another job holds the unique_key of one of them."""
    with engine.begin() as conn:
        jobs = _lock_jobs(conn, ids)
        for job, _ in jobs:
            if not job.state.finished:
                raise errors.InvalidState(
                    f"cannot retry job {job.id}: it is {job.state.value}, not dead, completed "
                    "or cancelled; nothing was changed")
        _refuse_taken_keys(conn, [j.id for j, _ in jobs])
        try:
            rows = conn.execute(sa.text(
                f"UPDATE jobs SET state = {sql.RELEASE_STATE}, attempts = 0, run_at = now(), "
                "updated_at = now() WHERE id = ANY(:ids) RETURNING id, state"),
                {"ids": [j.id for j, _ in jobs]}).all()
        except sa_exc.IntegrityError:
            raise errors.InvalidState(
                "cannot retry: two of these jobs have the same unique_key; retry one of them; "
                "nothing was changed") from None
        _notify(conn, "")
    now = {r.id: JobState(r.state) for r in rows}
    return [Steered(j.id, now[j.id], f"{now[j.id].value} again (was {j.state.value})")
            for j, _ in jobs]


def set_claiming(engine: sa.Engine, *, paused: bool) -> None:
    """Stop (paused=True) or restart claiming across the whole fleet."""
    with engine.begin() as conn:
        if paused:
            conn.execute(sa.text(
                "INSERT INTO switches (name, value) VALUES ('claiming', 'paused') "
                "ON CONFLICT (name) DO UPDATE SET value = 'paused', updated_at = now()"))
        else:
            conn.execute(sa.text("DELETE FROM switches WHERE name = 'claiming'"))
            _notify(conn, "")


def claiming_paused(engine: sa.Engine) -> bool:
    """True while `pause --all` holds."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT EXISTS (SELECT 1 FROM switches WHERE name = 'claiming' "
            "AND value = 'paused')")).scalar_one() is True


def take_controls(engine: sa.Engine, *, run_ids: Sequence[int]) -> list[Control]:
    """The untaken requests for these runs, marked taken, oldest first."""
    if not run_ids:
        return []
    with _autocommit(engine).connect() as conn:
        rows = conn.execute(sa.text(
            "UPDATE controls SET taken_at = now() WHERE taken_at IS NULL "
            "AND run_id = ANY(CAST(:runs AS bigint[])) "
            "RETURNING id, job_id, run_id, action, signal"), {"runs": list(run_ids)}).all()
    return sorted((Control(**r._asdict()) for r in rows), key=lambda c: c.id)


_APPEND = sa.text(
    f"""
    WITH c AS (
        SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:runs AS bigint[]),
                             CAST(:chunks AS text[])) WITH ORDINALITY AS c(job_id, run_id, chunk, n)
    ), new AS (
        INSERT INTO job_output (job_id, run_id, chunk)
        SELECT c.job_id, c.run_id, c.chunk FROM c
        JOIN jobs j ON j.id = c.job_id AND j.run_id = c.run_id AND j.state = {sql.PROCESSING}
        ORDER BY c.n
        RETURNING job_id, run_id
    ), old AS (
        DELETE FROM job_output o USING (SELECT DISTINCT job_id, run_id FROM new) n
        WHERE o.job_id = n.job_id AND o.run_id <> n.run_id
    )
    SELECT DISTINCT job_id FROM new
    """
)
_TRIM = sa.text(
    """
    DELETE FROM job_output WHERE id IN (
        SELECT id FROM (
            SELECT id, sum(octet_length(chunk)) OVER (PARTITION BY job_id ORDER BY id DESC)
                       - octet_length(chunk) AS after
            FROM job_output WHERE job_id = ANY(:ids)) t
        WHERE after >= :keep)
    """
)


def append_output(engine: sa.Engine, *, chunks: Sequence[tuple[str, int, str]]) -> None:
    """Store (job id, run id, text) chunks of running jobs' output, fenced on run_id; keeps
    the last 1 MiB per job."""
    if not chunks:
        return
    with _autocommit(engine).begin() as conn:
        ids = conn.execute(_APPEND, {"ids": [c[0] for c in chunks],
                                     "runs": [c[1] for c in chunks],
                                     "chunks": [c[2] for c in chunks]}).scalars().all()
        if ids:
            conn.execute(_TRIM, {"ids": list(ids), "keep": MAX_OUTPUT})


def delete_finished_output(engine: sa.Engine, *, older_than: float) -> int:
    """Drop live-output chunks of runs that ended more than `older_than` seconds ago (the
    final output is in `jobs.output`); returns how many."""
    with _autocommit(engine).connect() as conn:
        return conn.execute(sa.text(
            f"""
            DELETE FROM job_output o
            WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = o.job_id AND j.run_id = o.run_id
                              AND (j.state = {sql.PROCESSING}
                                   OR j.updated_at >= now() - :s * interval '1 second'))
            """), {"s": older_than}).rowcount


def read_output(engine: sa.Engine, *, job_id: str, after: int = 0) -> OutputRead:
    """The job, and the output chunks of its current run with ids above `after`."""
    with engine.connect() as conn:
        job = _get_job(conn, job_id)
        run_id = conn.execute(sa.text("SELECT run_id FROM jobs WHERE id = :id"),
                              {"id": job.id}).scalar()
        rows = conn.execute(sa.text(
            "SELECT id, chunk FROM job_output WHERE job_id = :id AND run_id = :run "
            "AND id > :after ORDER BY id"), {"id": job.id, "run": run_id, "after": after}).all()
    return OutputRead(job, run_id, [(r.id, r.chunk) for r in rows])


def request_worker_stop(engine: sa.Engine, *, host: str | None,
                        grace: float | None) -> list[WorkerInfo]:
    """Ask the live workers of `host` (None: every host) to stop, gracefully (running jobs
    finish) or killing what still runs after `grace` seconds; returns them."""
    with engine.begin() as conn:
        workers = [w for w in _workers(conn, _live_within(conn))
                   if host is None or w.host == host]
        if workers:
            conn.execute(sa.text(
                "UPDATE workers SET stop_requested_at = now(), stop_grace = :g "
                "WHERE id = ANY(:ids) AND stop_requested_at IS NULL"),
                {"g": grace, "ids": [w.id for w in workers]})
            _notify(conn, STOP_PAYLOAD)
    return workers


def live_workers(engine: sa.Engine, *, ids: Sequence[int]) -> list[int]:
    """Which of these workers are still registered and heartbeating."""
    with engine.connect() as conn:
        return sorted(w.id for w in _workers(conn, _live_within(conn)) if w.id in set(ids))
