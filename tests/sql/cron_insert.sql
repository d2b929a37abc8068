-- cron_insert
INSERT INTO cron (name, schedule, zone, template)
VALUES (%(name)s, %(schedule)s, %(zone)s, %(template)s)
ON CONFLICT (name) DO NOTHING
RETURNING name
