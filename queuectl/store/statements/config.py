"""Settings stored in the database, and retention (prune): batched deletes under one
fleet-wide advisory lock."""

from __future__ import annotations

from queuectl.store import sql
from queuectl.store.statements import Statement

__all__ = [
    "config_list",
    "config_upsert",
    "control_delete_old_batch",
    "job_delete_finished_batch",
    "metric_delete_old_batch",
    "prune_lock_try_xact",
    "prune_lock_xact",
]

#: Every stored setting.
config_list = Statement("config_list", "SELECT key, value FROM config")

#: Store one setting (already validated and formatted).
config_upsert = Statement("config_upsert", """
    INSERT INTO config (key, value) VALUES (%(key)s, %(value)s)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()""")

#: The pruners' lock, for the transaction: wait for it, or try and say whether it was taken.
prune_lock_xact = Statement("prune_lock_xact", "SELECT pg_advisory_xact_lock(%(k)s) AS locked")
prune_lock_try_xact = Statement("prune_lock_try_xact",
                                "SELECT pg_try_advisory_xact_lock(%(k)s) AS locked")

#: One batch (`n`) of jobs finished more than `s` seconds ago. A job another transaction
#: holds is skipped (a `retry` locks it, then moves it back: deleting it after would leave its
#: dependents waiting on no one). A job's `after` rows go with it, either side (job_deps has
#: no foreign keys: their per-row cascade doubled the time of a prune).
job_delete_finished_batch = Statement("job_delete_finished_batch", f"""
    WITH doomed AS (
        SELECT id, has_dependents FROM jobs
        WHERE state IN ({sql.FINISHED}) AND finished_at < now() - %(s)s * interval '1 second'
        LIMIT %(n)s
        FOR UPDATE SKIP LOCKED
    ), waits AS (
        DELETE FROM job_deps WHERE job_id IN (SELECT id FROM doomed)
    ), waited AS (
        DELETE FROM job_deps WHERE depends_on IN (SELECT id FROM doomed WHERE has_dependents)
    )
    DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)""")

#: One batch of metrics recorded more than `s` seconds ago.
metric_delete_old_batch = Statement("metric_delete_old_batch", """
    DELETE FROM metrics WHERE id IN (
        SELECT id FROM metrics WHERE finished_at < now() - %(s)s * interval '1 second'
        LIMIT %(n)s)""")

#: One batch of control requests made more than `s` seconds ago.
control_delete_old_batch = Statement("control_delete_old_batch", """
    DELETE FROM controls WHERE id IN (
        SELECT id FROM controls WHERE created_at < now() - %(s)s * interval '1 second'
        LIMIT %(n)s)""")
