"""Settings stored in the database, and retention (prune)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from queuectl import db
from queuectl.core import configkeys
from queuectl.db import models
from queuectl.store import sql
from queuectl.store._common import _config

__all__ = ["load_config", "prune", "set_config"]


def load_config(engine: sa.Engine) -> dict[str, Any]:
    """Every config key with its stored value, or its default."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _config(conn)


def set_config(engine: sa.Engine, *, key: str, value: configkeys.Value) -> None:
    """Store a validated value for `key` (see `configkeys.parse`)."""
    stmt = postgresql.insert(models.config).values(
        key=key, value=configkeys.format_value(value)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"], set_={"value": stmt.excluded.value, "updated_at": sa.func.now()}
    )
    with db.translate_errors(engine), engine.begin() as conn:
        conn.execute(stmt)


# --- retention ------------------------------------------------------------------------------


_PRUNE_LOCK = 0x71756576  # advisory lock: one pruner at a time across the fleet
_PRUNE_BATCH = 10_000
_PRUNE_STATEMENTS = (
    # A job's `after` rows go with it, either side (job_deps has no foreign keys: their
    # per-row cascade doubled the time of a prune).
    "WITH doomed AS (SELECT id, has_dependents FROM jobs"
    f" WHERE state IN ({sql.FINISHED})"
    " AND finished_at < now() - :s * interval '1 second' LIMIT :n),"
    " waits AS (DELETE FROM job_deps WHERE job_id IN (SELECT id FROM doomed)),"
    " waited AS (DELETE FROM job_deps WHERE depends_on IN"
    " (SELECT id FROM doomed WHERE has_dependents))"
    " DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)",
    "DELETE FROM metrics WHERE id IN (SELECT id FROM metrics"
    " WHERE finished_at < now() - :s * interval '1 second' LIMIT :n)",
    "DELETE FROM controls WHERE id IN (SELECT id FROM controls"
    " WHERE created_at < now() - :s * interval '1 second' LIMIT :n)",
)


def prune(engine: sa.Engine, *, older_than: float, wait: bool = True) -> tuple[int, int] | None:
    """Delete completed, dead and cancelled jobs finished, and metrics (and control requests)
    recorded, more than `older_than`
    seconds ago, in batches so no lock is held long; returns (jobs, metrics) deleted, or None
    when `wait` is False and another process is pruning.

    Each batch is one transaction holding the transaction-scoped advisory lock (safe behind a
    transaction pooler), so at most one batch of deletes runs at a time across the fleet. With
    `wait` a pruner queues for the lock before each batch; without it, it gives up when the
    lock is taken: at its start (None), or between its batches (what it deleted so far), leaving
    the rest to the pruner that holds it."""
    params = {"s": older_than, "n": _PRUNE_BATCH}
    lock = sa.text(f"SELECT {'pg_advisory_xact_lock' if wait else 'pg_try_advisory_xact_lock'}"
                   "(:k)")
    totals, batches = [0] * len(_PRUNE_STATEMENTS), 0
    for i, statement in enumerate(_PRUNE_STATEMENTS):
        while True:
            with db.translate_errors(engine), engine.begin() as conn:
                if conn.execute(lock, {"k": _PRUNE_LOCK}).scalar() is False:
                    return (totals[0], totals[1]) if batches else None
                deleted = conn.execute(sa.text(statement), params).rowcount
            totals[i] += deleted
            batches += 1
            if deleted < _PRUNE_BATCH:
                break
    return totals[0], totals[1]
