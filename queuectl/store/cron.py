"""Cron schedules: add, list, remove, pause, resume, run one now, and the leader's pass that
enqueues the due ticks.

A tick is enqueued exactly once across the fleet: one transaction moves the schedule's
`done_until` up to the tick, conditional on it being earlier (`UPDATE ... WHERE done_until <
:tick RETURNING`), and inserts the job only if that row came back. Two leaders racing (during a
leader change) serialise on the row lock; the second re-checks the condition on the new row
version and gets nothing back. Schedules are evaluated against the database's clock, never a
host's, so hosts with skewed clocks agree on what is due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from queuectl import db, errors
from queuectl.core import jobspec, schedule
from queuectl.store import jobs as jobs_store
from queuectl.store._common import NOTIFY_CHANNEL, fetch, run
from queuectl.store.statements import cron as cron_sql
from queuectl.store.statements import jobs as jobs_sql

__all__ = [
    "Cron",
    "CronPass",
    "add_cron",
    "enqueue_due_crons",
    "list_crons",
    "remove_cron",
    "run_cron",
    "set_cron_paused",
]

log = logging.getLogger("queuectl.worker")
#: NOTIFY payload that makes the leader re-read the schedules now (one was added or changed).
CRON_PAYLOAD = "cron"


@dataclass(frozen=True)
class Cron:
    """A schedule as `cron list` shows it; `next_run` is None while paused (or never again),
    and may be in the past when a tick is due but no leader has enqueued it yet."""

    name: str
    schedule: str
    zone: str
    template: str
    paused: bool
    created_at: datetime
    next_run: datetime | None
    last_run_at: datetime | None
    last_job_id: str | None
    last_job_state: str | None
    #: Why this host cannot evaluate the stored schedule (a zone it lacks, a syntax of
    #: another version); `next_run` is then None. Other rows list normally.
    error: str | None = None


@dataclass(frozen=True)
class CronPass:
    """What the leader's pass did: (name, job id) per job enqueued, and the seconds until the
    next tick of any active schedule (None without one)."""

    enqueued: list[tuple[str, str]]
    next_in: float | None


def _cron(row: Any) -> Cron:
    r = row._asdict()
    next_run, error = None, None
    try:
        sched = schedule.parse(r["schedule"], r["zone"])
    except errors.UsageError as exc:  # stored by another version, or a zone this host lacks
        error = str(exc)
    else:
        if not r["paused"]:
            next_run = sched.due_tick(now=r["now"], done_until=r["done_until"]) or \
                sched.next_tick(max(r["now"], r["done_until"]))
    return Cron(r["name"], r["schedule"], r["zone"], r["template"], r["paused"],
                r["created_at"], next_run, r["last_run_at"], r["last_job_id"],
                r["last_job_state"], error)


def _notify_payload(conn: sa.Connection, payload: str) -> None:
    fetch(conn, jobs_sql.job_wake_notify, {"ch": NOTIFY_CHANNEL, "p": payload})


def _get(conn: sa.Connection, name: str) -> Cron:
    rows = fetch(conn, cron_sql.cron_get, {"name": name})
    if not rows:
        raise errors.CronNotFound(f"no cron schedule named {name!r}")
    return _cron(rows[0])


def add_cron(engine: sa.Engine, *, name: str, schedule_text: str, zone: str, template: str,
             replace: bool = False) -> Cron:
    """Create schedule `name` (or, with `replace`, redefine it; its paused state stays).
    Its first tick is the first after now. The caller validated every value; the template is
    also tried as an enqueue (`_try_template`: an `after` id must name a job)."""
    statement = cron_sql.cron_replace if replace else cron_sql.cron_insert
    with db.translate_errors(engine), engine.begin() as conn:
        _try_template(conn, template)
        rows = fetch(conn, statement, {
            "name": name, "schedule": schedule_text, "zone": zone, "template": template,
        })
        if not rows:
            raise errors.DuplicateCron(
                f"a cron schedule named {name!r} already exists; nothing was changed "
                "(--replace redefines it)")
        _notify_payload(conn, CRON_PAYLOAD)
        return _get(conn, name)


def _try_template(conn: sa.Connection, template: str) -> None:
    """Enqueue the template's job in a savepoint that is rolled back, so that it meets every
    rule an enqueue applies, the database's too (an `after` id that names no job): a template
    that no tick could enqueue is refused now (`errors.InvalidJob`), not skipped at each tick."""
    spec = jobspec.parse_payload(template)[0]
    savepoint = conn.begin_nested()
    try:
        jobs_store._insert_specs(conn, [spec])
    except errors.InvalidJob as exc:
        reason = str(exc).removesuffix("; nothing was enqueued")
        raise errors.InvalidJob(f"the cron template cannot be enqueued: {reason}; nothing "
                                "was changed") from None
    finally:
        savepoint.rollback()


def list_crons(engine: sa.Engine) -> list[Cron]:
    """Every schedule, by name."""
    with db.translate_errors(engine), engine.connect() as conn:
        return [_cron(r) for r in fetch(conn, cron_sql.cron_list)]


def remove_cron(engine: sa.Engine, *, name: str) -> None:
    """Delete schedule `name`; the jobs it enqueued stay (with their cron name)."""
    with db.translate_errors(engine), engine.begin() as conn:
        gone = fetch(conn, cron_sql.cron_delete, {"name": name})
    if not gone:
        raise errors.CronNotFound(f"no cron schedule named {name!r}")


def set_cron_paused(engine: sa.Engine, *, name: str, paused: bool) -> Cron:
    """Pause or resume schedule `name`. Resuming skips the ticks that passed while paused:
    the next one is the first after now."""
    statement = cron_sql.cron_pause if paused else cron_sql.cron_resume
    with db.translate_errors(engine), engine.begin() as conn:
        if not fetch(conn, statement, {"name": name}):
            raise errors.CronNotFound(f"no cron schedule named {name!r}")
        if not paused:
            _notify_payload(conn, CRON_PAYLOAD)
        return _get(conn, name)


def run_cron(engine: sa.Engine, *, name: str) -> str:
    """Enqueue one job from schedule `name` now (paused or not), outside its ticks; returns
    the job's id."""
    with db.translate_errors(engine), engine.begin() as conn:
        rows = fetch(conn, cron_sql.cron_get_template_locked, {"name": name})
        if not rows:
            raise errors.CronNotFound(f"no cron schedule named {name!r}")
        return _enqueue(conn, name, rows[0].template)


def _enqueue(conn: sa.Connection, name: str, template: str) -> str:
    """Insert the job of `template` for schedule `name` in the caller's transaction."""
    spec = jobspec.parse_payload(template)[0]  # a fresh id each time
    [result] = jobs_store._insert_specs(conn, [spec])
    if not result.duplicate:  # a template's unique_key held by an unfinished job: that one
        run(conn, cron_sql.job_set_cron_name, {"name": name, "id": result.id})
    run(conn, cron_sql.cron_record_run, {"name": name, "id": result.id})
    return result.id


def enqueue_due_crons(engine: sa.Engine) -> CronPass:
    """The leader's pass: enqueue one job for each active schedule with a due tick (only the
    most recent one after an outage), and say when the next tick comes."""
    with db.translate_errors(engine), engine.connect() as conn:
        rows = fetch(conn, cron_sql.cron_list_active)
        conn.rollback()
        enqueued: list[tuple[str, str]] = []
        next_in: float | None = None
        for row in rows:
            try:
                sched = schedule.parse(row.schedule, row.zone)
            except errors.UsageError as exc:  # a zone this host lacks, or an older syntax
                log.warning("cron %s: cannot evaluate its schedule here: %s", row.name, exc)
                continue
            tick = sched.due_tick(now=row.now, done_until=row.done_until)
            if tick is not None:
                job_id = _fire(conn, row.name, tick)
                if job_id is not None:
                    enqueued.append((row.name, job_id))
            upcoming = sched.next_tick(max(row.now, row.done_until))
            if upcoming is not None:
                wait = (upcoming - row.now).total_seconds()
                next_in = wait if next_in is None else min(next_in, wait)
        return CronPass(enqueued, next_in)


def _fire(conn: sa.Connection, name: str, tick: datetime) -> str | None:
    """Spend `tick` of schedule `name` and enqueue its job, in one transaction; None if
    another leader spent it first (or the schedule changed meanwhile)."""
    with conn.begin():
        rows = fetch(conn, cron_sql.cron_spend_tick_if_due, {"name": name, "tick": tick})
        if not rows:
            return None
        try:
            return _enqueue(conn, name, rows[0].template)
        except errors.InvalidJob as exc:  # validated when added; a later version may differ
            log.warning("cron %s: tick %s skipped: its template is not valid: %s", name,
                        tick.isoformat(), exc)
            return None
