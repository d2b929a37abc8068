-- queue_delete_if_idle
WITH unfinished AS (
    SELECT count(*) AS n FROM jobs
    WHERE queue = %(name)s AND state NOT IN ('completed', 'dead', 'cancelled')
), gone AS (
    DELETE FROM queues
    WHERE name = %(name)s AND (SELECT n FROM unfinished) = 0
    RETURNING name
)
SELECT (SELECT n FROM unfinished) AS unfinished,
       EXISTS (SELECT 1 FROM queues WHERE name = %(name)s) AS had_row,
       EXISTS (SELECT 1 FROM jobs WHERE queue = %(name)s) AS has_jobs,
       EXISTS (SELECT 1 FROM gone) AS removed
