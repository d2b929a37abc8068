-- switch_pause_claiming
INSERT INTO switches (name, value) VALUES ('claiming', 'paused')
ON CONFLICT (name) DO UPDATE
SET value = 'paused',
    updated_at = CASE WHEN switches.value = 'paused' THEN switches.updated_at
                      ELSE now() END
