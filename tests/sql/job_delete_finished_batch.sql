-- job_delete_finished_batch
WITH doomed AS (
    SELECT id, has_dependents FROM jobs
    WHERE state IN ('completed', 'dead', 'cancelled') AND finished_at < now() - %(s)s * interval '1 second'
    LIMIT %(n)s
    FOR UPDATE SKIP LOCKED
), waits AS (
    DELETE FROM job_deps WHERE job_id IN (SELECT id FROM doomed)
), waited AS (
    DELETE FROM job_deps WHERE depends_on IN (SELECT id FROM doomed WHERE has_dependents)
)
DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)
