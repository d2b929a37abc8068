"""Unique keys and dependencies: `jobs.unique_key` (at most one unfinished job per key), the
`waiting` state, `job_deps` (a job's `after` list) and the trigger that releases or cancels
the dependents of a job when it finishes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_OLD_STATES = "'pending', 'processing', 'completed', 'failed', 'dead', 'cancelled', 'held'"
_NEW_STATES = _OLD_STATES + ", 'waiting'"
_FINISHED = "'completed', 'dead', 'cancelled'"

# Fired only for a job that some other job waits for (`has_dependents`, in the trigger's WHEN),
# when it reaches a final state by any path: a worker's result, a rescue, cancel, the DLQ.
# Completed: each waiting dependent whose `after` jobs have now all completed becomes pending,
# and the workers are woken. Dead or cancelled: every waiting dependent is cancelled, which
# fires this trigger again for its own dependents, down the chain.
_FUNCTION = f"""
CREATE FUNCTION queuectl_release_dependents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    due timestamptz;
BEGIN
    -- Lock the waiting dependents first, in id order: when two of a job's dependencies finish
    -- at once, the second waits here for the first to commit, and its statements below (each
    -- with a fresh snapshot) then see both finished.
    PERFORM 1 FROM jobs
    WHERE id IN (SELECT job_id FROM job_deps WHERE depends_on = NEW.id) AND state = 'waiting'
    ORDER BY id FOR UPDATE;
    IF NEW.state = 'completed' THEN
        WITH promoted AS (
            UPDATE jobs j SET state = 'pending', updated_at = now()
            WHERE j.id IN (SELECT job_id FROM job_deps WHERE depends_on = NEW.id)
              AND j.state = 'waiting'
              AND NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on
                              WHERE d.job_id = j.id AND p.state <> 'completed')
            RETURNING j.run_at)
        SELECT min(run_at) INTO due FROM promoted;
        IF due IS NOT NULL THEN
            PERFORM pg_notify('queuectl_jobs', CASE WHEN due <= now() THEN ''
                              ELSE extract(epoch FROM due)::text END);
        END IF;
    ELSE
        UPDATE jobs SET state = 'cancelled', updated_at = now(), finished_at = now(),
               error = format('dependency %s ended %s', NEW.id, NEW.state)
        WHERE id IN (SELECT job_id FROM job_deps WHERE depends_on = NEW.id)
          AND state = 'waiting';
    END IF;
    RETURN NULL;
END
$$
"""
_TRIGGER = f"""
CREATE TRIGGER queuectl_release_dependents AFTER UPDATE OF state ON jobs FOR EACH ROW
WHEN (NEW.has_dependents AND NEW.state IN ({_FINISHED})
      AND OLD.state IS DISTINCT FROM NEW.state)
EXECUTE FUNCTION queuectl_release_dependents()
"""


def upgrade() -> None:
    op.drop_constraint(op.f("ck_jobs_state"), "jobs", type_="check")
    op.create_check_constraint(op.f("ck_jobs_state"), "jobs", f"state IN ({_NEW_STATES})")
    op.add_column("jobs", sa.Column("unique_key", sa.Text(), nullable=True))
    op.add_column("jobs", sa.Column("has_dependents", sa.Boolean(),
                                    server_default="false", nullable=False))
    op.create_index("ix_jobs_unique_key", "jobs", ["unique_key"], unique=True,
                    postgresql_where=sa.text(
                        f"unique_key IS NOT NULL AND state NOT IN ({_FINISHED})"))
    op.create_table(
        "job_deps",
        sa.Column("job_id", sa.Text(collation="C"), nullable=False),
        sa.Column("depends_on", sa.Text(collation="C"), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "depends_on", name=op.f("pk_job_deps")),
    )
    op.create_index("ix_job_deps_depends_on", "job_deps", ["depends_on"])
    op.execute(_FUNCTION)
    op.execute(_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER queuectl_release_dependents ON jobs")
    op.execute("DROP FUNCTION queuectl_release_dependents()")
    op.drop_index("ix_job_deps_depends_on", table_name="job_deps")
    op.drop_table("job_deps")
    op.drop_index("ix_jobs_unique_key", table_name="jobs")
    op.drop_column("jobs", "has_dependents")
    op.drop_column("jobs", "unique_key")
    # Without dependencies a waiting job would run at once: hold it for a person to resume.
    op.execute("UPDATE jobs SET state = 'held' WHERE state = 'waiting'")
    op.drop_constraint(op.f("ck_jobs_state"), "jobs", type_="check")
    op.create_check_constraint(op.f("ck_jobs_state"), "jobs", f"state IN ({_OLD_STATES})")
