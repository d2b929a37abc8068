-- cron_record_run
UPDATE cron SET last_run_at = now(), last_job_id = %(id)s WHERE name = %(name)s
