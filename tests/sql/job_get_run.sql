-- job_get_run
SELECT run_id FROM jobs WHERE id = %(id)s
