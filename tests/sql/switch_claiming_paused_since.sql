-- switch_claiming_paused_since
SELECT updated_at AS since FROM switches WHERE name = 'claiming' AND value = 'paused'
