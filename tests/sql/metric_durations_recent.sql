-- metric_durations_recent
SELECT avg(duration) AS avg, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) AS p95
FROM metrics
WHERE outcome = 'completed' AND duration IS NOT NULL
      AND finished_at >= now() - %(n)s * interval '1 minute'
