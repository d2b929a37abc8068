-- job_count_by_state
SELECT CASE WHEN state = 'processing' AND started_at IS NULL
            THEN 'claimed' ELSE state END AS state,
       count(*) AS n
FROM jobs GROUP BY 1
