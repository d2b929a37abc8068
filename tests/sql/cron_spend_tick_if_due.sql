-- cron_spend_tick_if_due
UPDATE cron SET done_until = %(tick)s
WHERE name = %(name)s AND NOT paused AND done_until < %(tick)s
RETURNING template
