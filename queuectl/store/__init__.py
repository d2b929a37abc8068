"""All of queuectl's SQL lives in this package. Every function starts with a verb, takes
keyword-only arguments after the engine and returns plain dataclasses or values, never rows.
Callers import the package (`from queuectl import store`; `store.claim_jobs(...)`), not its
modules:

- `jobs`: enqueue, read, list, count, status, the DLQ;
- `runs`: claim, finish (fenced on run_id), finish-and-claim in one statement, requeue;
- `workers`: the worker registry and heartbeats (which extend leases);
- `upkeep`: the leader lease, expired runs and their rescue, stale registrations;
- `listen`: LISTEN/NOTIFY wake-ups behind a small `Listener` object;
- `config`: settings stored in the database, and retention (prune);
- `dashboard`: read-only aggregates for the web dashboard and /metrics.

The boundary: every function exported here raises only `queuectl.errors` exceptions. Driver
errors are translated on the way out (`db.translate`): a lost or refused connection is
`DatabaseUnavailable`, any other refusal `DatabaseError`. No caller imports the driver.

Single-statement operations on the hot path (claim, finish, heartbeat) run in autocommit mode:
one statement is one transaction and one round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import sqlalchemy as sa

from queuectl import db
from queuectl.store import config as _config_mod
from queuectl.store import control as _control
from queuectl.store import dashboard as _dashboard
from queuectl.store import jobs as _jobs
from queuectl.store import listen as _listen
from queuectl.store import runs as _runs
from queuectl.store import upkeep as _upkeep
from queuectl.store import workers as _workers
from queuectl.store._common import NOTIFY_CHANNEL
from queuectl.store.control import Control, OutputRead, Steered
from queuectl.store.dashboard import (
    DURATION_BUCKETS,
    MetricsSnapshot,
    MinuteStat,
    Overview,
    RunningJob,
)
from queuectl.store.jobs import Status
from queuectl.store.listen import Listener
from queuectl.store.runs import Claimed, RunResult
from queuectl.store.upkeep import ExpiredRun
from queuectl.store.workers import Beat

_F = TypeVar("_F", bound=Callable[..., Any])


def _boundary(fn: _F) -> _F:
    """`fn`, with driver errors translated into the `errors` tree."""

    @functools.wraps(fn)
    def translated(engine: Any, /, *args: Any, **kwargs: Any) -> Any:
        with db.translate_errors(engine if isinstance(engine, sa.Engine) else None):
            return fn(engine, *args, **kwargs)

    return cast(_F, translated)


# jobs
count_states = _boundary(_jobs.count_states)
enqueue_jobs = _boundary(_jobs.enqueue_jobs)
get_job = _boundary(_jobs.get_job)
get_jobs = _boundary(_jobs.get_jobs)
list_jobs = _boundary(_jobs.list_jobs)
retry_all_dead = _boundary(_jobs.retry_all_dead)
retry_dead = _boundary(_jobs.retry_dead)
status = _boundary(_jobs.status)
# runs
claim_jobs = _boundary(_runs.claim_jobs)
finish_and_claim = _boundary(_runs.finish_and_claim)
finish_runs = _boundary(_runs.finish_runs)
requeue_runs = _boundary(_runs.requeue_runs)
# workers
deregister_worker = _boundary(_workers.deregister_worker)
heartbeat = _boundary(_workers.heartbeat)
list_workers = _boundary(_workers.list_workers)
register_worker = _boundary(_workers.register_worker)
set_worker_state = _boundary(_workers.set_worker_state)
# upkeep
delete_stale_workers = _boundary(_upkeep.delete_stale_workers)
expired_runs = _boundary(_upkeep.expired_runs)
rescue_runs = _boundary(_upkeep.rescue_runs)
resign_leader = _boundary(_upkeep.resign_leader)
try_lead = _boundary(_upkeep.try_lead)
# control
append_output = _boundary(_control.append_output)
cancel_jobs = _boundary(_control.cancel_jobs)
claiming_paused = _boundary(_control.claiming_paused)
delete_finished_output = _boundary(_control.delete_finished_output)
live_workers = _boundary(_control.live_workers)
pause_jobs = _boundary(_control.pause_jobs)
read_output = _boundary(_control.read_output)
request_worker_stop = _boundary(_control.request_worker_stop)
resume_jobs = _boundary(_control.resume_jobs)
retry_jobs = _boundary(_control.retry_jobs)
set_claiming = _boundary(_control.set_claiming)
signal_job = _boundary(_control.signal_job)
take_controls = _boundary(_control.take_controls)
# listen
open_listener = _boundary(_listen.open_listener)
# config
load_config = _boundary(_config_mod.load_config)
prune = _boundary(_config_mod.prune)
set_config = _boundary(_config_mod.set_config)
# dashboard
collect_metrics = _boundary(_dashboard.collect_metrics)
dashboard_overview = _boundary(_dashboard.dashboard_overview)
limit_statement_time = _dashboard.limit_statement_time
page_jobs = _boundary(_dashboard.page_jobs)

__all__ = [
    "DURATION_BUCKETS",
    "NOTIFY_CHANNEL",
    "Beat",
    "Claimed",
    "Control",
    "ExpiredRun",
    "Listener",
    "MetricsSnapshot",
    "MinuteStat",
    "OutputRead",
    "Overview",
    "RunResult",
    "RunningJob",
    "Status",
    "Steered",
    "append_output",
    "cancel_jobs",
    "claim_jobs",
    "claiming_paused",
    "collect_metrics",
    "count_states",
    "dashboard_overview",
    "delete_finished_output",
    "delete_stale_workers",
    "deregister_worker",
    "enqueue_jobs",
    "expired_runs",
    "finish_and_claim",
    "finish_runs",
    "get_job",
    "get_jobs",
    "heartbeat",
    "limit_statement_time",
    "list_jobs",
    "list_workers",
    "live_workers",
    "load_config",
    "open_listener",
    "page_jobs",
    "pause_jobs",
    "prune",
    "read_output",
    "register_worker",
    "request_worker_stop",
    "requeue_runs",
    "rescue_runs",
    "resign_leader",
    "resume_jobs",
    "retry_all_dead",
    "retry_dead",
    "retry_jobs",
    "set_config",
    "set_claiming",
    "set_worker_state",
    "signal_job",
    "status",
    "take_controls",
    "try_lead",
]
