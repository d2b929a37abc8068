-- cron_delete
DELETE FROM cron WHERE name = %(name)s RETURNING name
