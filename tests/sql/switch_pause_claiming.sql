-- switch_pause_claiming
INSERT INTO switches (name, value, set_by)
VALUES ('claiming', 'paused', session_user || ' (' || %(client)s || ')')
ON CONFLICT (name) DO UPDATE
SET value = 'paused',
    updated_at = CASE WHEN switches.value = 'paused' THEN switches.updated_at
                      ELSE now() END,
    set_by = CASE WHEN switches.value = 'paused' THEN switches.set_by
                  ELSE excluded.set_by END
