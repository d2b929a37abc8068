-- metric_count_by_outcome
SELECT outcome, count(*) AS n FROM metrics GROUP BY outcome
