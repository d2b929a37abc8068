"""The commands people run in loops (`enqueue`, `status`), shell completion and `doctor`, over a
bare psycopg connection.

Loading SQLAlchemy costs a command more than connecting does, so these take a psycopg
connection (`migrate.connect_ready`). They are the store's own paths, not copies: the enqueue
(`enqueueing.insert_jobs`) and the status (`reads.status`) are written once over the one
execution helper (`execute.fetch`), which `jobs.enqueue_jobs` and `jobs.status` run on the
driver connection under their SQLAlchemy connection. Import this module directly
(`from queuectl.store import quick`): it imports neither SQLAlchemy nor `queuectl.db.models`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from queuectl import errors
from queuectl.store import enqueueing, execute, reads, sql
from queuectl.store.enqueueing import Enqueued
from queuectl.store.statements import Statement
from queuectl.store.statements import jobs as jobs_sql
from queuectl.store.statements import server as server_sql

if TYPE_CHECKING:
    import psycopg

    from queuectl.core import jobspec

__all__ = ["Enqueued", "QuickStatus", "Replica", "ServerInfo", "enqueue", "recent_job_ids",
           "refuse_taken_ids", "replicas", "server_info", "status"]

NOTIFY_CHANNEL = sql.NOTIFY_CHANNEL

#: What `status` shows: the same answer as `store.status`.
QuickStatus = reads.Status


def enqueue(conn: psycopg.Connection[Any], *, specs: Sequence[jobspec.JobSpec],
            on_batch: Callable[[int], None] | None = None) -> list[Enqueued]:
    """Insert all `specs` in one transaction (all or none) and wake idle workers;
    `on_batch(n)` hears of each batch of n jobs sent (for a progress bar). One result per
    spec: the job created, or the unfinished job that holds its unique_key."""
    import psycopg

    def run(statement: Statement, params: Mapping[str, Any] | None) -> list[Any]:
        try:
            return execute.fetch(conn, statement, params)
        except psycopg.errors.UniqueViolation as exc:
            raise errors.DuplicateJob(sql.duplicate_message(exc.diag.message_detail)) from None

    with conn.transaction():
        default_retries = reads.config(run)["max_retries"]
        return enqueueing.insert_jobs(run, specs=specs, default_retries=default_retries,
                                      on_batch=on_batch)


def refuse_taken_ids(conn: psycopg.Connection[Any], *, ids: Sequence[str]) -> None:
    """Raise `errors.DuplicateJob` for the first of `ids` (a payload's, in order) that a
    stored job has: what an enqueue of them would say first."""
    taken = {r[0] for r in execute.fetch(conn, jobs_sql.job_ids_taken, {"ids": list(ids)})}
    first = next((i for i in ids if i in taken), None)
    if first is not None:
        raise errors.DuplicateJob(sql.duplicate_id_message(first))


def status(conn: psycopg.Connection[Any]) -> QuickStatus:
    """Counts per state, total, average duration of completed runs, live workers."""
    answer = reads.status(functools.partial(execute.fetch, conn))
    conn.rollback()
    return answer


def recent_job_ids(conn: psycopg.Connection[Any], *, prefix: str = "",
                   limit: int = 50) -> list[str]:
    """Ids starting with `prefix`, newest first (for shell completion); a server that refuses
    (no schema yet, say) is a DatabaseError."""
    import psycopg

    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    try:
        rows = execute.fetch(conn, jobs_sql.job_list_recent_ids,
                             {"pattern": pattern, "limit": limit})
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
    [row] = execute.fetch(conn, server_sql.server_info)
    round_trip = time.perf_counter() - started
    version, now, has_schema = row
    revision = None
    if has_schema:
        rows = execute.fetch(conn, server_sql.schema_revision)
        revision = rows[0].version_num if rows else None
    conn.rollback()
    return ServerInfo(version, now, revision, round_trip)


@dataclass(frozen=True)
class Replica:
    """A standby streaming from the server `doctor` reached, as `pg_stat_replication` shows
    it (a login without pg_monitor sees None for the address, state and lags)."""

    name: str
    address: str | None
    state: str | None
    sync_state: str | None
    replay_lag: float | None
    lag_bytes: int | None


def replicas(conn: psycopg.Connection[Any]) -> list[Replica]:
    """The replicas streaming from this (primary) server; [] for none."""
    rows = execute.fetch(conn, server_sql.server_replication)
    conn.rollback()
    return [Replica(*row) for row in rows]
