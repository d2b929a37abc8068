-- switch_claiming_paused
SELECT EXISTS (SELECT 1 FROM switches WHERE name = 'claiming' AND value = 'paused')
AS paused
