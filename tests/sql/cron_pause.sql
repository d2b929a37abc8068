-- cron_pause
UPDATE cron SET paused = true, updated_at = now() WHERE name = %(name)s RETURNING name
