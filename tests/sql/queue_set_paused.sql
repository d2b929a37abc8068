-- queue_set_paused
INSERT INTO queues (name, paused) VALUES (%(name)s, %(paused)s)
ON CONFLICT (name) DO UPDATE SET paused = %(paused)s, updated_at = now()
