-- queue_count_by_state
SELECT queue, state, count(*) AS n FROM jobs GROUP BY queue, state
UNION ALL
SELECT name, NULL, 0 FROM queues
