-- job_output_trim_many
DELETE FROM job_output WHERE id IN (
SELECT id FROM (
    SELECT id, sum(octet_length(chunk)) OVER (PARTITION BY job_id ORDER BY id DESC)
               - octet_length(chunk) AS after
    FROM job_output WHERE job_id = ANY(CAST(%(ids)s AS text[]))) t
WHERE after >= %(keep)s)
