-- switch_claiming_paused_since
SELECT updated_at AS since, set_by AS by FROM switches
WHERE name = 'claiming' AND value = 'paused'
