-- control_delete_old_batch
DELETE FROM controls WHERE id IN (
SELECT id FROM controls WHERE created_at < now() - %(s)s * interval '1 second'
LIMIT %(n)s)
