"""All of queuectl's SQL lives in this package. Every function starts with a verb, takes
keyword-only arguments after the engine and returns plain dataclasses or values, never rows.
Callers import the package (`from queuectl import store`; `store.claim_jobs(...)`), not its
modules:

- `jobs`: enqueue (the statements run by `enqueueing`), read, list, count, status, the DLQ;
- `runs`: claim, finish (fenced on run_id), finish-and-claim in one statement, requeue;
- `workers`: the worker registry and heartbeats (which extend leases);
- `upkeep`: the leader lease, expired runs and their rescue, stale registrations;
- `queues`: named queues' settings and counts, and the claim from a limited queue;
- `listen`: LISTEN/NOTIFY wake-ups behind a small `Listener` object;
- `config`: settings stored in the database, and retention (prune);
- `control`: steering jobs (cancel, signal, pause, resume, retry), the fleet's claiming switch,
  control requests for workers, live output chunks, stop requests;
- `cron`: cron schedules and the leader's pass that enqueues their due ticks, once each;
- `dashboard`: read-only aggregates for the web dashboard and /metrics;
- `quick`: `enqueue`, `status` and `doctor` over a bare psycopg connection (imported directly,
  not through this package), through the same code as `jobs` (`enqueueing`, `reads`).

Every statement these send is written out whole once in the catalogue, `store.statements`
(one module per table or concern, named noun-first with the fence: `job_claim_available`,
`job_finish_if_running_many`, `leader_attempt_elect`), and sent by the one execution helper,
`store.execute` (psycopg's `%(name)s` placeholders, prepared where allowed): on the quick
commands' bare connection, or on the driver connection under an engine's connection
(`_common.fetch`). The SQLAlchemy tables (`db.models`) serve the migrations only.

The boundary: every function exported here raises only `queuectl.errors` exceptions. Driver
errors are translated on the way out (`db.translate`): a lost or refused connection is
`DatabaseUnavailable`, any other refusal `DatabaseError`. No caller imports the driver.

Single-statement operations on the hot path (claim, finish, heartbeat) run in autocommit mode:
one statement is one transaction and one round trip.

The submodules load on first use (`store.status` imports `store.jobs`), so a command that never
touches the database, or takes a psycopg-only path, does not pay for SQLAlchemy. A new public
name needs a line in `_FUNCTIONS` or `_VALUES` and one under TYPE_CHECKING.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queuectl.store._common import NOTIFY_CHANNEL
    from queuectl.store.config import load_config, prune, set_config
    from queuectl.store.control import (
        Control,
        OutputRead,
        Steered,
        append_output,
        cancel_jobs,
        claiming_paused,
        claiming_paused_since,
        delete_finished_output,
        live_workers,
        pause_jobs,
        read_output,
        request_worker_stop,
        resume_jobs,
        retry_jobs,
        set_claiming,
        signal_job,
        take_controls,
    )
    from queuectl.store.cron import (
        Cron,
        CronPass,
        add_cron,
        enqueue_due_crons,
        list_crons,
        remove_cron,
        run_cron,
        set_cron_paused,
    )
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
    from queuectl.store.enqueueing import Enqueued
    from queuectl.store.jobs import (
        Status,
        count_states,
        enqueue_jobs,
        get_dependencies,
        get_job,
        get_jobs,
        list_dead_jobs,
        list_jobs,
        retry_all_dead,
        retry_dead,
        status,
    )
    from queuectl.store.listen import Listener, open_listener
    from queuectl.store.queues import (
        QueueInfo,
        list_queues,
        pause_queue,
        remove_queue,
        resume_queue,
        set_queue_limits,
    )
    from queuectl.store.runs import (
        Claimed,
        RunResult,
        abandon_run,
        claim_jobs,
        finish_and_claim,
        finish_runs,
        requeue_runs,
    )
    from queuectl.store.upkeep import (
        ExpiredRun,
        delete_stale_workers,
        expired_runs,
        rescue_runs,
        resign_leader,
        try_lead,
    )
    from queuectl.store.workers import (
        Beat,
        SilentWorker,
        deregister_worker,
        heartbeat,
        list_workers,
        register_worker,
        request_silent_worker_stop,
        set_worker_state,
    )

# Functions (translated at the boundary) and other names (as they are), by defining module.
_FUNCTIONS = {
    "load_config": "config", "prune": "config", "set_config": "config",
    "append_output": "control", "cancel_jobs": "control", "claiming_paused": "control",
    "claiming_paused_since": "control",
    "delete_finished_output": "control", "live_workers": "control", "pause_jobs": "control",
    "read_output": "control", "request_worker_stop": "control", "resume_jobs": "control",
    "retry_jobs": "control", "set_claiming": "control", "signal_job": "control",
    "take_controls": "control",
    "add_cron": "cron", "enqueue_due_crons": "cron", "list_crons": "cron",
    "remove_cron": "cron", "run_cron": "cron", "set_cron_paused": "cron",
    "collect_metrics": "dashboard", "dashboard_overview": "dashboard", "page_jobs": "dashboard",
    "count_states": "jobs", "enqueue_jobs": "jobs", "get_job": "jobs", "get_jobs": "jobs",
    "get_dependencies": "jobs",
    "list_dead_jobs": "jobs", "list_jobs": "jobs", "retry_all_dead": "jobs",
    "retry_dead": "jobs", "status": "jobs",
    "open_listener": "listen",
    "list_queues": "queues", "pause_queue": "queues", "remove_queue": "queues",
    "resume_queue": "queues", "set_queue_limits": "queues",
    "abandon_run": "runs", "claim_jobs": "runs", "finish_and_claim": "runs",
    "finish_runs": "runs",
    "requeue_runs": "runs",
    "delete_stale_workers": "upkeep", "expired_runs": "upkeep", "rescue_runs": "upkeep",
    "resign_leader": "upkeep", "try_lead": "upkeep",
    "deregister_worker": "workers", "heartbeat": "workers", "list_workers": "workers",
    "register_worker": "workers", "request_silent_worker_stop": "workers",
    "set_worker_state": "workers",
}
_VALUES = {
    "NOTIFY_CHANNEL": "_common",
    "DURATION_BUCKETS": "dashboard", "MetricsSnapshot": "dashboard", "MinuteStat": "dashboard",
    "Overview": "dashboard", "RunningJob": "dashboard",
    # Registers an engine event, raises nothing itself.
    "limit_statement_time": "dashboard",
    "Enqueued": "enqueueing",
    "Status": "jobs", "Listener": "listen", "QueueInfo": "queues", "Claimed": "runs",
    "RunResult": "runs",
    "ExpiredRun": "upkeep", "Beat": "workers", "SilentWorker": "workers",
    "Control": "control", "OutputRead": "control", "Steered": "control",
    "Cron": "cron", "CronPass": "cron",
}

__all__ = [
    "Beat",
    "Claimed",
    "Control",
    "Cron",
    "CronPass",
    "DURATION_BUCKETS",
    "Enqueued",
    "ExpiredRun",
    "Listener",
    "MetricsSnapshot",
    "MinuteStat",
    "NOTIFY_CHANNEL",
    "OutputRead",
    "Overview",
    "QueueInfo",
    "RunResult",
    "RunningJob",
    "SilentWorker",
    "Status",
    "Steered",
    "abandon_run",
    "add_cron",
    "append_output",
    "cancel_jobs",
    "claim_jobs",
    "claiming_paused",
    "claiming_paused_since",
    "collect_metrics",
    "count_states",
    "dashboard_overview",
    "delete_finished_output",
    "delete_stale_workers",
    "deregister_worker",
    "enqueue_due_crons",
    "enqueue_jobs",
    "expired_runs",
    "finish_and_claim",
    "finish_runs",
    "get_dependencies",
    "get_job",
    "get_jobs",
    "heartbeat",
    "limit_statement_time",
    "list_crons",
    "list_dead_jobs",
    "list_jobs",
    "list_queues",
    "list_workers",
    "live_workers",
    "load_config",
    "open_listener",
    "page_jobs",
    "pause_jobs",
    "pause_queue",
    "prune",
    "read_output",
    "register_worker",
    "remove_cron",
    "remove_queue",
    "request_silent_worker_stop",
    "request_worker_stop",
    "requeue_runs",
    "rescue_runs",
    "resign_leader",
    "resume_jobs",
    "resume_queue",
    "retry_all_dead",
    "retry_dead",
    "retry_jobs",
    "run_cron",
    "set_claiming",
    "set_config",
    "set_cron_paused",
    "set_queue_limits",
    "set_worker_state",
    "signal_job",
    "status",
    "take_controls",
    "try_lead",
]


def _boundary(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, with driver errors translated into the `errors` tree."""
    from queuectl import db

    @functools.wraps(fn)
    def translated(engine: Any, /, *args: Any, **kwargs: Any) -> Any:
        with db.translate_errors(engine):
            return fn(engine, *args, **kwargs)

    return translated


def __getattr__(name: str) -> Any:
    if name in _FUNCTIONS:
        module = importlib.import_module(f"queuectl.store.{_FUNCTIONS[name]}")
        value = _boundary(getattr(module, name))
    elif name in _VALUES:
        value = getattr(importlib.import_module(f"queuectl.store.{_VALUES[name]}"), name)
    else:
        raise AttributeError(f"module 'queuectl.store' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
