"""Pieces the store modules share: connections in autocommit mode, the execution helper on
a SQLAlchemy connection (`fetch`, `run`), row conversion, NOTIFY, and the reads that several
statements build on (config, counts, workers: `reads`; one job)."""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from queuectl import db, errors
from queuectl.db.models import Job, JobState, WorkerInfo
from queuectl.store import execute, reads, sql
from queuectl.store.statements import Statement
from queuectl.store.statements import dashboard as dashboard_sql
from queuectl.store.statements import jobs as jobs_sql

__all__ = ["NOTIFY_CHANNEL"]


NOTIFY_CHANNEL = sql.NOTIFY_CHANNEL


_autocommit_engines: weakref.WeakKeyDictionary[sa.Engine, sa.Engine] = (
    weakref.WeakKeyDictionary()
)
# Each autocommit wrapper's engine (the one `db` knows: targets, prepared statements).
_base_engines: weakref.WeakKeyDictionary[sa.Engine, sa.Engine] = weakref.WeakKeyDictionary()


def _autocommit(engine: sa.Engine) -> sa.Engine:
    """The same engine in autocommit mode (one statement = one transaction = one round trip);
    cached because building the option wrapper costs more than the statement on the hot path."""
    try:
        return _autocommit_engines[engine]
    except KeyError:
        auto = _autocommit_engines[engine] = engine.execution_options(
            isolation_level="AUTOCOMMIT")
        _base_engines[auto] = engine
        return auto


# Engines whose statements are cancelled after so many milliseconds (`limit_statement_time`).
_time_limits: weakref.WeakKeyDictionary[sa.Engine, str] = weakref.WeakKeyDictionary()


def limit_statement_time(engine: sa.Engine, *, ms: int) -> None:
    """Cancel every statement the store sends on `engine` after `ms` milliseconds: each
    transaction starts with a transaction-local `statement_timeout` (a statement in autocommit
    mode runs in a transaction of its own, one round trip more for each), so that nothing
    outlives the transaction on a server connection a pooler shares."""
    _time_limits[engine] = str(ms)


def fetch(conn: sa.Connection, statement: Statement, params: execute.Params = None, *,
          prepare: bool | None = None) -> list[Any]:
    """`execute.fetch` on the driver connection under `conn` (in its transaction, if any):
    rows as named tuples."""
    return _on_driver(conn, statement, params, prepare, rows=True)  # type: ignore[no-any-return]


def run(conn: sa.Connection, statement: Statement, params: execute.Params = None, *,
        prepare: bool | None = None) -> int:
    """`execute.execute` on the driver connection under `conn`: the rows touched."""
    return _on_driver(conn, statement, params, prepare, rows=False)  # type: ignore[no-any-return]


def _on_driver(conn: sa.Connection, statement: Statement, params: execute.Params,
               prepare: bool | None, *, rows: bool) -> Any:
    # Straight to the driver: one placeholder style and one path for every statement, and on
    # the worker's hot path SQLAlchemy's per-call bookkeeping cost as much CPU as the
    # statement, under the same GIL as the threads that spawn jobs.
    engine = _base_engines.get(conn.engine, conn.engine)
    driver = conn.connection.driver_connection
    assert driver is not None
    if not (driver.autocommit or conn.in_transaction()):
        # SQLAlchemy's autobegin, as if it had sent the statement: the driver opens a
        # transaction, and `conn.commit()` / `conn.rollback()` must end it.
        conn.begin()
    if not db.prepares_statements(engine):
        prepare = False
    limit = _time_limits.get(engine)

    def stopped(exc: BaseException) -> None:
        db.stop_preparing(engine, exc, driver)

    def send() -> Any:
        if rows:
            return execute.fetch(driver, statement, params, prepare=prepare, stopped=stopped)
        return execute.execute(driver, statement, params, prepare=prepare, stopped=stopped)

    try:
        if limit is None:
            return send()
        prepare = False  # a prepared-statement error could not be retried in the transaction
        return _within_time(driver, limit, send)
    except psycopg.Error as exc:
        # As SQLAlchemy would have raised it: a lost connection (or one whose record of
        # prepared statements is out of step with the server) leaves the pool.
        # (A statement timeout is not one: the server is there, only slow.)
        lost = (db.is_disconnect(exc) or driver.broken or driver.closed
                or db.is_prepared_statement_error(exc))
        if db.is_prepared_statement_error(exc):
            db.stop_preparing(engine, exc, driver)
        if lost:
            conn.invalidate(exc)
        raise sa_exc.DBAPIError.instance(
            statement.sql, params, exc, psycopg.Error, hide_parameters=True,
            connection_invalidated=lost) from exc


def _within_time(driver: psycopg.Connection[Any], ms: str, send: Callable[[], Any]) -> Any:
    """`send()` in a transaction whose statements are cancelled after `ms` milliseconds: the
    caller's, limited when it starts here, or (autocommit) one of its own."""
    def limit() -> None:
        execute.execute(driver, dashboard_sql.transaction_set_statement_timeout, {"ms": ms})

    if driver.autocommit:
        with driver.transaction():
            limit()
            return send()
    if driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        limit()  # the first statement of the caller's transaction
    return send()


def _job(row: Any) -> Job:
    data = row._asdict()
    data["state"] = JobState(data["state"])
    data["tags"] = list(data.get("tags") or [])
    return Job(**{k: v for k, v in data.items() if k in Job.__dataclass_fields__})


def _notify(conn: sa.Connection, due: datetime | None) -> None:
    payload = "" if due is None else f"{due.timestamp():.6f}"
    fetch(conn, jobs_sql.job_wake_notify, {"ch": NOTIFY_CHANNEL, "p": payload})


def _config(conn: sa.Connection) -> dict[str, Any]:
    """Every key's stored value, or its default (see `reads.config`)."""
    return reads.config(functools.partial(fetch, conn))


CLAIMED = sql.CLAIMED


def _counts(conn: sa.Connection, *, split_claimed: bool = False) -> dict[str, int]:
    """Jobs per state (see `sql.counts_from_rows`)."""
    return reads.counts(functools.partial(fetch, conn), split_claimed=split_claimed)


def _live_within(conn: sa.Connection) -> float:
    """A worker counts as live while it has missed fewer than three heartbeats (and never
    longer than its lease)."""
    return reads.live_within(_config(conn))


def _workers(conn: sa.Connection, live_within: float) -> list[WorkerInfo]:
    return reads.workers(functools.partial(fetch, conn), live_within)


def _with_after(conn: sa.Connection, jobs: list[Job]) -> list[Job]:
    """The jobs with their `after` lists filled in (one query)."""
    if not jobs:
        return jobs
    after: dict[str, list[str]] = {
        r.job_id: list(r.after)
        for r in fetch(conn, jobs_sql.job_after_many, {"ids": [j.id for j in jobs]})}
    return [dataclasses.replace(j, after=after[j.id]) if j.id in after else j
            for j in jobs]


def _get_job(conn: sa.Connection, job_id: str) -> Job:
    """The job with id `job_id`, or the only one whose id starts with it, with its `after`."""
    return _with_after(conn, [_find_job(conn, job_id)])[0]


def _find_job(conn: sa.Connection, job_id: str) -> Job:
    if not job_id.strip():
        raise errors.UsageError("give a job id (or a unique prefix of one), not an empty string")
    rows = fetch(conn, jobs_sql.job_get, {"id": job_id})
    if rows:
        return _job(rows[0])
    pattern = job_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matches = [r.id for r in fetch(conn, jobs_sql.job_find_by_prefix, {"pattern": pattern})]
    if not matches:
        raise errors.JobNotFound(f"no job with id or id prefix {job_id!r}")
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise errors.AmbiguousId(f"id prefix {job_id!r} matches several jobs: {shown}")
    [row] = fetch(conn, jobs_sql.job_get, {"id": matches[0]})
    return _job(row)
