-- switch_pause_claiming
INSERT INTO switches (name, value) VALUES ('claiming', 'paused')
ON CONFLICT (name) DO UPDATE SET value = 'paused', updated_at = now()
