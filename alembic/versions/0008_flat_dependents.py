"""Cancelling dependents without recursion: `queuectl_release_dependents()` walks a dead or
cancelled job's waiting dependents level by level in a loop, not one nested trigger call per
link (0006's version stopped at about 650 links with `54001 stack depth limit exceeded`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The trigger itself (0006) is unchanged: it fires for a job some other job waits for
# (`has_dependents`) when it reaches a final state by any path.
#
# Completed: as in 0006, each waiting dependent whose `after` jobs have all completed becomes
# pending (one level: those run later, and their own completion releases the next).
#
# Dead or cancelled: one recursive query finds every waiting job reached from this one through
# waiting jobs, with the dependency it is cancelled for (the smallest id where several
# ended), and one UPDATE cancels them all. The rows it cancels fire this trigger again; a
# transaction-local flag makes those calls return at once. A chain of any length costs one
# stack frame, not one per link (0006's recursion stopped at about 650 links, `54001 stack
# depth limit exceeded`).
#
# Locks: the jobs about to change are locked first, in id order, so that when two of a job's
# dependencies finish at once the second waits for the first to commit and then (statements
# in a trigger take fresh snapshots) sees both finished. A cascade walks again after locking:
# a job that stopped waiting meanwhile is no longer passed through, and one enqueued meanwhile
# (under the lock on its dependency) is found, locked and walked in turn; the walk that finds
# nothing new is the set cancelled. Each job is looked up by its primary key (a LATERAL
# subquery, which the planner keeps as a parameterised lookup): with statistics taken before
# a large enqueue, a plan reading the state index would scan every waiting job per step
# (0006's did, per completion: a 10,000-job chain took minutes). No JIT: the walk's estimate
# can pass jit_above_cost, and compiling it would cost more than walking a small graph.
_FUNCTION = """
CREATE OR REPLACE FUNCTION queuectl_release_dependents() RETURNS trigger LANGUAGE plpgsql
SET jit = off AS $$
DECLARE
    due timestamptz;
    waiting text[];
    locked text[] := '{}';
    causes text[];
    fresh text[];
BEGIN
    IF current_setting('queuectl.cascading', true) = 'on' THEN
        RETURN NULL;  -- cancelled by a cascade below, which walks its dependents itself
    END IF;
    IF NEW.state = 'completed' THEN
        SELECT array_agg(w.id) INTO waiting
        FROM (SELECT job_id FROM job_deps WHERE depends_on = NEW.id ORDER BY job_id) d
        CROSS JOIN LATERAL (SELECT id FROM jobs WHERE id = d.job_id AND state = 'waiting'
                            FOR UPDATE) w;
        WITH promoted AS (
            UPDATE jobs j SET state = 'pending', updated_at = now()
            WHERE j.id = ANY(waiting)
              AND NOT EXISTS (
                  SELECT 1 FROM job_deps d
                  CROSS JOIN LATERAL (SELECT 1 FROM jobs p WHERE p.id = d.depends_on
                                      AND p.state <> 'completed' OFFSET 0) p
                  WHERE d.job_id = j.id OFFSET 0)
            RETURNING j.run_at)
        SELECT min(run_at) INTO due FROM promoted;
        IF due IS NOT NULL THEN
            PERFORM pg_notify('queuectl_jobs', CASE WHEN due <= now() THEN ''
                              ELSE extract(epoch FROM due)::text END);
        END IF;
        RETURN NULL;
    END IF;
    PERFORM set_config('queuectl.cascading', 'on', true);
    LOOP
        WITH RECURSIVE reach(id, cause) AS (
            SELECT d.job_id, d.depends_on FROM job_deps d
            CROSS JOIN LATERAL (SELECT 1 FROM jobs WHERE id = d.job_id AND state = 'waiting'
                                OFFSET 0) w
            WHERE d.depends_on = NEW.id
            UNION
            SELECT d.job_id, d.depends_on FROM reach r
            CROSS JOIN LATERAL (SELECT job_id, depends_on FROM job_deps
                                WHERE depends_on = r.id OFFSET 0) d
            CROSS JOIN LATERAL (SELECT 1 FROM jobs WHERE id = d.job_id AND state = 'waiting'
                                OFFSET 0) w
        )
        SELECT array_agg(id ORDER BY id), array_agg(cause ORDER BY id) INTO waiting, causes
        FROM (SELECT id, min(cause) AS cause FROM reach GROUP BY id) r;
        SELECT array_agg(id ORDER BY id) INTO fresh
        FROM (SELECT unnest(waiting) AS id EXCEPT SELECT unnest(locked)) f;
        EXIT WHEN fresh IS NULL;
        SELECT locked || coalesce(array_agg(l.id), '{}') INTO locked
        FROM unnest(fresh) AS f(id)
        CROSS JOIN LATERAL (SELECT id FROM jobs WHERE id = f.id AND state = 'waiting'
                            FOR UPDATE) l;
    END LOOP;
    UPDATE jobs j SET state = 'cancelled', updated_at = now(), finished_at = now(),
           error = format('dependency %s ended %s', c.cause,
                          CASE WHEN c.cause = NEW.id THEN NEW.state ELSE 'cancelled' END)
    FROM unnest(waiting, causes) AS c(id, cause)
    WHERE j.id = c.id;
    PERFORM set_config('queuectl.cascading', 'off', true);
    RETURN NULL;
END
$$
"""

# 0006's function, as it was: what a downgrade puts back.
_FUNCTION_0006 = """
CREATE OR REPLACE FUNCTION queuectl_release_dependents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    due timestamptz;
BEGIN
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


def upgrade() -> None:
    op.execute(_FUNCTION)


def downgrade() -> None:
    op.execute(_FUNCTION_0006)
