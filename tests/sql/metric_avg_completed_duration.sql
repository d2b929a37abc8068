-- metric_avg_completed_duration
SELECT avg(duration) AS avg FROM metrics WHERE outcome = 'completed'
