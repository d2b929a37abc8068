-- queue_lock_limited
SELECT name FROM queues
WHERE name = %(queue)s AND NOT paused
      AND (concurrency IS NOT NULL OR rate_count IS NOT NULL)
FOR UPDATE SKIP LOCKED
