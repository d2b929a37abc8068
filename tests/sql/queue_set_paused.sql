-- queue_set_paused
INSERT INTO queues AS q (name, paused)
SELECT %(name)s, %(paused)s
WHERE EXISTS (SELECT 1 FROM queues WHERE name = %(name)s)
      OR EXISTS (SELECT 1 FROM jobs WHERE queue = %(name)s)
ON CONFLICT (name) DO UPDATE SET paused = %(paused)s, updated_at = now()
RETURNING q.name
