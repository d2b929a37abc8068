-- config_upsert
INSERT INTO config (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()
