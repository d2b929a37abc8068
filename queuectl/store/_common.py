"""Pieces the store modules share: connections in autocommit mode, row conversion,
NOTIFY, and the reads that several statements build on (config, counts, workers, one job)."""

from __future__ import annotations

import logging
import weakref
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from queuectl import configkeys, errors, models
from queuectl.models import Job, JobState, WorkerInfo

__all__ = ["NOTIFY_CHANNEL"]


NOTIFY_CHANNEL = "queuectl_jobs"
_log = logging.getLogger("queuectl.config")
# Every job column but the heavy or internal ones: what lists show.
_LIST_COLUMNS = [c for c in models.jobs.c if c.name not in ("output", "run_id", "lease_expires_at")]


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


def _job(row: sa.Row) -> Job:
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
            try:
                values[row.key] = configkeys.parse_stored(row.key, row.value)
            except ValueError as exc:
                _warn_unusable(row.key, row.value, exc)
    return values


_warned: set[tuple[str, str]] = set()


def _warn_unusable(key: str, raw: str, exc: ValueError) -> None:
    if (key, raw) in _warned:
        return
    _warned.add((key, raw))
    spec = configkeys.KEYS[key]
    default = configkeys.format_value(spec.default)
    if spec.default is not None and spec.unit in ("s", "ms"):
        default += spec.unit
    _log.warning("config %s = %r is unusable (%s); using the default %s until "
                 "`queuectl config set %s ...` fixes it", key, raw, exc, default, key)


def _counts(conn: sa.Connection) -> dict[str, int]:
    counts = {s.value: 0 for s in JobState}
    rows = conn.execute(sa.text("SELECT state, count(*) AS n FROM jobs GROUP BY state"))
    counts.update({r.state: r.n for r in rows})
    return counts


_WORKERS = sa.text(
    """
    SELECT w.id, w.host, w.pid, w.version, w.concurrency, w.state, w.started_at,
           w.heartbeat_at,
           coalesce((SELECT array_agg(j.id ORDER BY j.started_at) FROM jobs j
                     WHERE j.state = 'processing' AND j.worker_id = w.id), '{}') AS running
    FROM workers w
    WHERE w.heartbeat_at >= now() - :live * interval '1 second'
    ORDER BY w.host, w.pid
    """
)


def _live_within(conn: sa.Connection) -> float:
    """A worker counts as live while it has missed fewer than three heartbeats (and never
    longer than its lease)."""
    config = _config(conn)
    return min(3 * float(config["heartbeat_interval"]), float(config["lease_timeout"]))


def _workers(conn: sa.Connection, live_within: float) -> list[WorkerInfo]:
    rows = conn.execute(_WORKERS, {"live": live_within}).all()
    return [WorkerInfo(**{**r._asdict(), "running": list(r.running)}) for r in rows]


def _get_job(conn: sa.Connection, job_id: str) -> Job:
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
