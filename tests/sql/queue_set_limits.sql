-- queue_set_limits
INSERT INTO queues AS q (name, concurrency, rate_count, rate_period)
VALUES (%(name)s,
        CASE WHEN %(set_concurrency)s THEN CAST(%(concurrency)s AS int) END,
        CASE WHEN %(set_rate)s THEN CAST(%(rate_count)s AS int) END,
        CASE WHEN %(set_rate)s THEN CAST(%(rate_period)s AS int) END)
ON CONFLICT (name) DO UPDATE
    SET concurrency = CASE WHEN %(set_concurrency)s THEN excluded.concurrency
                           ELSE q.concurrency END,
        rate_count = CASE WHEN %(set_rate)s THEN excluded.rate_count ELSE q.rate_count END,
        rate_period = CASE WHEN %(set_rate)s THEN excluded.rate_period
                           ELSE q.rate_period END,
        rate_next_at = CASE
            WHEN NOT %(set_rate)s THEN q.rate_next_at
            WHEN q.rate_count IS NULL OR excluded.rate_count IS NULL THEN NULL
            ELSE q.rate_next_at - (q.rate_period * interval '1 second') / q.rate_count
                 + (excluded.rate_period * interval '1 second') / excluded.rate_count
        END,
        updated_at = now()
