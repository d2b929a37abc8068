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
"""

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
