"""All of queuectl's SQL lives in this package. Every function starts with a verb, takes
keyword-only arguments after the engine and returns plain dataclasses or values, never rows.
Callers import the package (`from queuectl import store`; `store.claim_jobs(...)`), not its
modules:

- `jobs`: enqueue, read, list, count, status, the DLQ;
- `runs`: claim, finish (fenced on run_id), finish-and-claim in one statement, requeue, rescue;
- `workers`: the worker registry and heartbeats (which extend leases);
- `config`: settings stored in the database, and retention (prune);
- `dashboard`: read-only aggregates for the web dashboard and /metrics.

Single-statement operations on the hot path (claim, finish, heartbeat) run in autocommit mode:
one statement is one transaction and one round trip.

The submodules load on first use (`store.status` imports `store.jobs`), so a command that never
touches the database, or takes a psycopg-only path, does not pay for SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queuectl.store._common import NOTIFY_CHANNEL
    from queuectl.store.config import load_config, prune, set_config
    from queuectl.store.dashboard import (
        DURATION_BUCKETS,
        MetricsSnapshot,
        MinuteStat,
        Overview,
        RunningJob,
        collect_metrics,
        dashboard_overview,
        limit_statement_time,
        page_jobs,
    )
    from queuectl.store.jobs import (
        Status,
        count_states,
        enqueue_jobs,
        get_job,
        get_jobs,
        list_jobs,
        retry_all_dead,
        retry_dead,
        status,
    )
    from queuectl.store.runs import (
        Claimed,
        RunResult,
        claim_jobs,
        finish_and_claim,
        finish_runs,
        requeue_runs,
        rescue_expired,
    )
    from queuectl.store.workers import (
        deregister_worker,
        heartbeat,
        list_workers,
        open_listener,
        register_worker,
        set_worker_state,
    )

# Which submodule defines each public name; imported on first attribute access.
_HOME = {
    "NOTIFY_CHANNEL": "_common",
    "load_config": "config",
    "prune": "config",
    "set_config": "config",
    "DURATION_BUCKETS": "dashboard",
    "MetricsSnapshot": "dashboard",
    "MinuteStat": "dashboard",
    "Overview": "dashboard",
    "RunningJob": "dashboard",
    "collect_metrics": "dashboard",
    "dashboard_overview": "dashboard",
    "limit_statement_time": "dashboard",
    "page_jobs": "dashboard",
    "Status": "jobs",
    "count_states": "jobs",
    "enqueue_jobs": "jobs",
    "get_job": "jobs",
    "get_jobs": "jobs",
    "list_jobs": "jobs",
    "retry_all_dead": "jobs",
    "retry_dead": "jobs",
    "status": "jobs",
    "Claimed": "runs",
    "RunResult": "runs",
    "claim_jobs": "runs",
    "finish_and_claim": "runs",
    "finish_runs": "runs",
    "requeue_runs": "runs",
    "rescue_expired": "runs",
    "deregister_worker": "workers",
    "heartbeat": "workers",
    "list_workers": "workers",
    "open_listener": "workers",
    "register_worker": "workers",
    "set_worker_state": "workers",
}

__all__ = [
    "DURATION_BUCKETS",
    "NOTIFY_CHANNEL",
    "Claimed",
    "MetricsSnapshot",
    "MinuteStat",
    "Overview",
    "RunResult",
    "RunningJob",
    "Status",
    "claim_jobs",
    "collect_metrics",
    "count_states",
    "dashboard_overview",
    "deregister_worker",
    "enqueue_jobs",
    "finish_and_claim",
    "finish_runs",
    "get_job",
    "get_jobs",
    "heartbeat",
    "limit_statement_time",
    "list_jobs",
    "list_workers",
    "load_config",
    "open_listener",
    "page_jobs",
    "prune",
    "register_worker",
    "requeue_runs",
    "rescue_expired",
    "retry_all_dead",
    "retry_dead",
    "set_config",
    "set_worker_state",
    "status",
]


def __getattr__(name: str) -> Any:
    try:
        home = _HOME[name]
    except KeyError:
        raise AttributeError(f"module 'queuectl.store' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"queuectl.store.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
