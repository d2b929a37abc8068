"""The commands people run in loops (`enqueue`, `status`), shell completion and `doctor`, over a
bare psycopg connection.

Loading SQLAlchemy costs a command more than connecting does, so these take a psycopg
connection (`migrate.connect_ready`) and send plain SQL. They share their statements with
`jobs.enqueue_jobs` and `jobs.status` (`store.sql`), and
`tests/integration/test_quick_store.py` compares their results. Import this module directly
(`from queuectl.store import quick`): it imports neither SQLAlchemy nor `queuectl.db.models`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from queuectl import errors
from queuectl.core import configkeys
from queuectl.core.records import WorkerInfo
from queuectl.store import enqueueing, sql
from queuectl.store.enqueueing import Enqueued

if TYPE_CHECKING:
    import psycopg

    from queuectl.core import jobspec

__all__ = ["Enqueued", "QuickStatus", "ServerInfo", "enqueue", "recent_job_ids", "server_info",
           "status"]

NOTIFY_CHANNEL = sql.NOTIFY_CHANNEL


@dataclass(frozen=True)
class QuickStatus:
    """What `status` shows: counts per state, the total, the average completed duration and
    the live workers (the same fields as `store.Status`)."""

    counts: dict[str, int]  # processing: started runs only
    total: int
    avg_duration: float | None
    workers: list[WorkerInfo]
    claimed: int = 0  # processing, claimed ahead by a worker, not started yet


def _config(conn: psycopg.Connection[Any], *keys: str) -> dict[str, Any]:
    values = {key: configkeys.KEYS[key].default for key in keys}
    rows = conn.execute("SELECT key, value FROM config WHERE key = ANY(%s)", [list(keys)])
    for key, value in rows:
        values[key] = sql.config_value(key, value)
    return values


def enqueue(conn: psycopg.Connection[Any], *, specs: Sequence[jobspec.JobSpec],
            on_batch: Callable[[int], None] | None = None) -> list[Enqueued]:
    """Insert all `specs` in one transaction (all or none) and wake idle workers;
    `on_batch(n)` hears of each batch of n jobs sent (for a progress bar). One result per
    spec: the job created, or the unfinished job that holds its unique_key."""
    import psycopg

    def run(statement: str, params: dict[str, Any]) -> list[Any]:
        try:
            cursor = conn.execute(statement, params)
        except psycopg.errors.UniqueViolation as exc:
            raise errors.DuplicateJob(sql.duplicate_message(exc.diag.message_detail)) from None
        return cursor.fetchall() if cursor.description else []

    with conn.transaction():
        default_retries = _config(conn, "max_retries")["max_retries"]
        return enqueueing.insert_jobs(run, specs=specs, default_retries=default_retries,
                                      on_batch=on_batch)


def status(conn: psycopg.Connection[Any]) -> QuickStatus:
    """Counts per state, total, average duration of completed runs, live workers."""
    from psycopg.rows import dict_row

    counts = sql.counts_from_rows(conn.execute(sql.COUNTS).fetchall(), split_claimed=True)
    claimed = counts.pop(sql.CLAIMED)
    row = conn.execute(f"SELECT avg(duration) FROM metrics WHERE outcome = {sql.COMPLETED}"
                       ).fetchone()
    config = _config(conn, "heartbeat_interval", "lease_timeout")
    # A worker counts as live while it has missed fewer than three heartbeats (and never
    # longer than its lease), as in `_common._live_within`.
    live = min(3 * float(config["heartbeat_interval"]), float(config["lease_timeout"]))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql.WORKERS, {"live": live}).fetchall()
    workers = [WorkerInfo(**{**r, "running": list(r["running"])}) for r in rows]
    conn.rollback()
    return QuickStatus(counts, sum(counts.values()) + claimed, row[0] if row else None,
                       workers, claimed)


def recent_job_ids(conn: psycopg.Connection[Any], *, prefix: str = "",
                   limit: int = 50) -> list[str]:
    """Ids starting with `prefix`, newest first (for shell completion); a server that refuses
    (no schema yet, say) is a DatabaseError."""
    import psycopg

    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    try:
        rows = conn.execute(
            "SELECT id FROM jobs WHERE id LIKE %s ORDER BY created_at DESC, id DESC LIMIT %s",
            [pattern, limit]).fetchall()
        conn.rollback()
    except psycopg.Error as exc:
        raise errors.DatabaseError(f"cannot list job ids: {exc}") from exc
    return [r[0] for r in rows]


@dataclass(frozen=True)
class ServerInfo:
    """What `doctor` reports about the server: version, its clock, the schema revision (None
    without a schema) and how long the query took (bounds the clock-skew estimate)."""

    version: str
    now: datetime
    revision: str | None
    round_trip: float


def server_info(conn: psycopg.Connection[Any]) -> ServerInfo:
    """The server's version, its clock and the schema revision, in one round trip."""
    import time

    started = time.perf_counter()
    row = conn.execute(
        "SELECT current_setting('server_version'), clock_timestamp(),"
        " to_regclass('alembic_version') IS NOT NULL").fetchone()
    round_trip = time.perf_counter() - started
    assert row is not None  # a SELECT without FROM returns one row
    version, now, has_schema = row
    revision = None
    if has_schema:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    conn.rollback()
    return ServerInfo(version, now, revision, round_trip)
