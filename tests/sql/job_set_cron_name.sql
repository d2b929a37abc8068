-- job_set_cron_name
UPDATE jobs SET cron_name = %(name)s WHERE id = %(id)s
