-- cron_replace
INSERT INTO cron (name, schedule, zone, template)
VALUES (%(name)s, %(schedule)s, %(zone)s, %(template)s)
ON CONFLICT (name) DO UPDATE SET schedule = EXCLUDED.schedule, zone = EXCLUDED.zone,
                          template = EXCLUDED.template, updated_at = now(),
                          done_until = now()
RETURNING name
