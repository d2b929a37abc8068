-- cron_get_template_locked
SELECT template FROM cron WHERE name = %(name)s FOR UPDATE
