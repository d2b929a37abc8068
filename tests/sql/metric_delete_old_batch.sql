-- metric_delete_old_batch
DELETE FROM metrics WHERE id IN (
SELECT id FROM metrics WHERE finished_at < now() - %(s)s * interval '1 second'
LIMIT %(n)s)
