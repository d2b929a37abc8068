-- metric_throughput_by_minute
WITH m AS (
    SELECT date_trunc('minute', finished_at) AS minute,
           count(*) FILTER (WHERE outcome = 'completed') AS completed,
           count(*) FILTER (WHERE outcome = 'failed') AS failed,
           count(*) FILTER (WHERE outcome = 'dead') AS dead
    FROM metrics
    WHERE finished_at >= date_trunc('minute', now()) - (%(n)s - 1) * interval '1 minute'
    GROUP BY 1
)
SELECT s.minute, coalesce(m.completed, 0) AS completed, coalesce(m.failed, 0) AS failed,
       coalesce(m.dead, 0) AS dead
FROM generate_series(date_trunc('minute', now()) - (%(n)s - 1) * interval '1 minute',
                     date_trunc('minute', now()), interval '1 minute') AS s(minute)
LEFT JOIN m ON m.minute = s.minute
ORDER BY s.minute
