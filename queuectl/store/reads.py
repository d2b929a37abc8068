"""The reads that several paths share, written once over a `Fetch` (run one statement of the
catalogue, rows back): the bare-psycopg commands (`quick`) hand in `execute.fetch` on their
connection, the engine paths (`_common`) the same helper on the driver connection under their
SQLAlchemy connection. Imports neither SQLAlchemy nor psycopg."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from queuectl.core import configkeys
from queuectl.core.records import WorkerInfo
from queuectl.store import sql
from queuectl.store.statements import Statement
from queuectl.store.statements import config as config_sql
from queuectl.store.statements import control as control_sql
from queuectl.store.statements import jobs as jobs_sql
from queuectl.store.statements import workers as workers_sql

__all__ = ["Fetch", "Status", "config", "counts", "live_within", "status", "workers"]

#: Run one statement with its parameters (None: none) in the caller's connection; its rows.
Fetch = Callable[[Statement, Mapping[str, Any] | None], list[Any]]


@dataclass(frozen=True)
class Status:
    """Counts per state, the total, the average completed duration, the live workers and
    since when `pause --all` holds (None: the fleet claims)."""

    counts: dict[str, int]  # processing: started runs only
    total: int
    avg_duration: float | None
    workers: list[WorkerInfo]
    claimed: int = 0  # processing, claimed ahead by a worker, not started yet
    claiming_paused_since: datetime | None = None
    claiming_paused_by: str | None = None


def config(fetch: Fetch) -> dict[str, Any]:
    """Every key's stored value, or its default; a stored value this version cannot use
    (out of range, or in a form an older version wrote) falls back to the default with one
    warning per process, so a bad row never stops a worker or a command."""
    values = configkeys.defaults()
    for row in fetch(config_sql.config_list, None):
        if row.key in values:
            values[row.key] = sql.config_value(row.key, row.value)
    return values


def counts(fetch: Fetch, *, split_claimed: bool = False) -> dict[str, int]:
    """Jobs per state (see `sql.counts_from_rows`)."""
    return sql.counts_from_rows(((r.state, r.n) for r in fetch(jobs_sql.job_count_by_state, None)),
                                split_claimed=split_claimed)


def live_within(values: Mapping[str, Any]) -> float:
    """A worker counts as live while it has missed fewer than three heartbeats (and never
    longer than its lease, `configkeys.lease_seconds`: never shorter than two heartbeats, so
    a `lease_timeout` stored shorter than that cannot hide workers that heartbeat on time);
    `values` is the config."""
    return min(3 * float(values["heartbeat_interval"]), configkeys.lease_seconds(values))


def workers(fetch: Fetch, live: float) -> list[WorkerInfo]:
    """Workers that heartbeated within `live` seconds, with the jobs they run."""
    rows = fetch(workers_sql.worker_list_live, {"live": live})
    return [WorkerInfo(**{**r._asdict(), "running": list(r.running)}) for r in rows]


def status(fetch: Fetch) -> Status:
    """Counts per state, total, average duration of completed runs, live workers, and since
    when claiming is paused across the fleet."""
    by_state = counts(fetch, split_claimed=True)
    claimed = by_state.pop(sql.CLAIMED)
    [row] = fetch(jobs_sql.metric_avg_completed_duration, None)
    paused = fetch(control_sql.switch_claiming_paused_since, None)
    return Status(by_state, sum(by_state.values()) + claimed, row.avg,
                  workers(fetch, live_within(config(fetch))), claimed,
                  paused[0].since if paused else None, paused[0].by if paused else None)
