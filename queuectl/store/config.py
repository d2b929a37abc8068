"""Settings stored in the database, and retention (prune)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from queuectl import db
from queuectl.core import configkeys
from queuectl.store import upkeep
from queuectl.store._common import _config, fetch, run
from queuectl.store.statements import config as config_sql

__all__ = ["load_config", "prune", "set_config"]


def load_config(engine: sa.Engine) -> dict[str, Any]:
    """Every config key with its stored value, or its default."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _config(conn)


def set_config(engine: sa.Engine, *, key: str, value: configkeys.Value) -> None:
    """Store a validated value for `key` (see `configkeys.parse`)."""
    with db.translate_errors(engine), engine.begin() as conn:
        run(conn, config_sql.config_upsert, {"key": key, "value": configkeys.format_value(value)})


# --- retention ------------------------------------------------------------------------------


_PRUNE_LOCK = 0x71756576  # advisory lock: one pruner at a time across the fleet
_PRUNE_BATCH = 10_000
_PRUNE_STATEMENTS = (config_sql.job_delete_finished_batch, config_sql.metric_delete_old_batch,
                     config_sql.control_delete_old_batch)


def prune(engine: sa.Engine, *, older_than: float, wait: bool = True) -> tuple[int, int] | None:
    """Delete completed, dead and cancelled jobs finished, and metrics (and control requests)
    recorded, more than `older_than`
    seconds ago, in batches so no lock is held long; returns (jobs, metrics) deleted, or None
    when `wait` is False and another process is pruning.

    Each batch is one transaction holding the transaction-scoped advisory lock (safe behind a
    transaction pooler), so at most one batch of deletes runs at a time across the fleet. With
    `wait` a pruner queues for the lock before each batch; without it, it gives up when the
    lock is taken: at its start (None), or between its batches (what it deleted so far), leaving
    the rest to the pruner that holds it.

    First, under the lock, the waiting jobs that would wait for ever are settled
    (`upkeep.settle_stranded`): nothing this deletes leaves a job waiting on no one."""
    params = {"s": older_than, "n": _PRUNE_BATCH}
    lock = config_sql.prune_lock_xact if wait else config_sql.prune_lock_try_xact
    with db.translate_errors(engine), engine.begin() as conn:
        if fetch(conn, lock, {"k": _PRUNE_LOCK})[0].locked is False:
            return None
        upkeep.settle_stranded(conn)
    totals, batches = [0] * len(_PRUNE_STATEMENTS), 0
    for i, statement in enumerate(_PRUNE_STATEMENTS):
        while True:
            with db.translate_errors(engine), engine.begin() as conn:
                if fetch(conn, lock, {"k": _PRUNE_LOCK})[0].locked is False:
                    return (totals[0], totals[1]) if batches else None
                deleted = run(conn, statement, params)
            totals[i] += deleted
            batches += 1
            if deleted < _PRUNE_BATCH:
                break
    return totals[0], totals[1]
