-- cron_get
SELECT c.name, c.schedule, c.zone, c.template, c.paused, c.created_at, c.done_until,
       c.last_run_at, c.last_job_id, j.state AS last_job_state, now() AS now
FROM cron c LEFT JOIN jobs j ON j.id = c.last_job_id
WHERE c.name = %(name)s
