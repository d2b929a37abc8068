-- cron_list_active
SELECT name, schedule, zone, done_until, now() AS now FROM cron WHERE NOT paused
