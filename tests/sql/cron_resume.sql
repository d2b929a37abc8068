-- cron_resume
UPDATE cron SET paused = false, updated_at = now(),
                done_until = CASE WHEN paused THEN greatest(done_until, now())
                                  ELSE done_until END
WHERE name = %(name)s RETURNING name
