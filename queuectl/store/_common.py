"""Pieces the store modules share: connections in autocommit mode, row conversion,
NOTIFY, and the reads that several statements build on (config, counts, workers, one job)."""

from __future__ import annotations

import dataclasses
import weakref
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from queuectl import errors
from queuectl.core import configkeys
from queuectl.db import models
from queuectl.db.models import Job, JobState, WorkerInfo
from queuectl.store import sql

__all__ = ["NOTIFY_CHANNEL"]


NOTIFY_CHANNEL = sql.NOTIFY_CHANNEL
# Every job column but the heavy or internal ones: what lists show.
_LIST_COLUMNS = [c for c in models.jobs.c
                 if c.name not in ("output", "run_id", "lease_expires_at", "has_dependents")]


_autocommit_engines: weakref.WeakKeyDictionary[sa.Engine, sa.Engine] = (
    weakref.WeakKeyDictionary()
)


def _autocommit(engine: sa.Engine) -> sa.Engine:
    """The same engine in autocommit mode (one statement = one transaction = one round trip);
    cached because building the option wrapper costs more than the statement on the hot path."""
    try:
        return _autocommit_engines[engine]
    except KeyError:
        auto = _autocommit_engines[engine] = engine.execution_options(
            isolation_level="AUTOCOMMIT")
        return auto


def _job(row: sa.Row[Any]) -> Job:
    data = row._asdict()
    data["state"] = JobState(data["state"])
    data["tags"] = list(data.get("tags") or [])
    return Job(**{k: v for k, v in data.items() if k in Job.__dataclass_fields__})


def _notify(conn: sa.Connection, due: datetime | None) -> None:
    payload = "" if due is None else f"{due.timestamp():.6f}"
    conn.execute(sa.text("SELECT pg_notify(:ch, :p)"), {"ch": NOTIFY_CHANNEL, "p": payload})


def _config(conn: sa.Connection) -> dict[str, Any]:
    """Every key's stored value, or its default; a stored value this version cannot use
    (out of range, or in a form an older version wrote) falls back to the default with one
    warning per process, so a bad row never stops a worker or a command."""
    values = configkeys.defaults()
    for row in conn.execute(sa.select(models.config.c.key, models.config.c.value)):
        if row.key in values:
            values[row.key] = sql.config_value(row.key, row.value)
    return values


CLAIMED = sql.CLAIMED
_COUNTS = sa.text(sql.COUNTS)
_WORKERS = sa.text(sql.for_sqlalchemy(sql.WORKERS))


def _counts(conn: sa.Connection, *, split_claimed: bool = False) -> dict[str, int]:
    """Jobs per state (see `sql.counts_from_rows`)."""
    return sql.counts_from_rows(((r.state, r.n) for r in conn.execute(_COUNTS)),
                                split_claimed=split_claimed)


def _live_within(conn: sa.Connection) -> float:
    """A worker counts as live while it has missed fewer than three heartbeats (and never
    longer than its lease)."""
    config = _config(conn)
    return min(3 * float(config["heartbeat_interval"]), float(config["lease_timeout"]))


def _workers(conn: sa.Connection, live_within: float) -> list[WorkerInfo]:
    rows = conn.execute(_WORKERS, {"live": live_within}).all()
    return [WorkerInfo(**{**r._asdict(), "running": list(r.running)}) for r in rows]


_AFTER = sa.text("SELECT job_id, array_agg(depends_on ORDER BY depends_on) AS after "
                 "FROM job_deps WHERE job_id = ANY(:ids) GROUP BY job_id")


def _with_after(conn: sa.Connection, jobs: list[Job]) -> list[Job]:
    """The jobs with their `after` lists filled in (one query)."""
    if not jobs:
        return jobs
    after: dict[str, list[str]] = {
        r.job_id: list(r.after) for r in conn.execute(_AFTER, {"ids": [j.id for j in jobs]})}
    return [dataclasses.replace(j, after=after[j.id]) if j.id in after else j
            for j in jobs]


def _get_job(conn: sa.Connection, job_id: str) -> Job:
    """The job with id `job_id`, or the only one whose id starts with it, with its `after`."""
    return _with_after(conn, [_find_job(conn, job_id)])[0]


def _find_job(conn: sa.Connection, job_id: str) -> Job:
    jobs = models.jobs
    if not job_id.strip():
        raise errors.UsageError("give a job id (or a unique prefix of one), not an empty string")
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
    if row is not None:
        return _job(row)
    pattern = job_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matches = conn.execute(
        sa.select(jobs.c.id).where(jobs.c.id.like(pattern, escape="\\")).order_by(jobs.c.id)
        .limit(6)
    ).scalars().all()
    if not matches:
        raise errors.JobNotFound(f"no job with id or id prefix {job_id!r}")
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise errors.AmbiguousId(f"id prefix {job_id!r} matches several jobs: {shown}")
    row = conn.execute(sa.select(jobs).where(jobs.c.id == matches[0])).one()
    return _job(row)
