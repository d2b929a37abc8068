-- job_output_append_if_running_many
WITH c AS (
    SELECT * FROM unnest(CAST(%(ids)s AS text[]), CAST(%(runs)s AS bigint[]),
                         CAST(%(chunks)s AS text[]))
             WITH ORDINALITY AS c(job_id, run_id, chunk, n)
), new AS (
    INSERT INTO job_output (job_id, run_id, chunk)
    SELECT c.job_id, c.run_id, c.chunk FROM c
    JOIN jobs j ON j.id = c.job_id AND j.run_id = c.run_id AND j.state = 'processing'
    ORDER BY c.n
    RETURNING job_id, run_id
), old AS (
    DELETE FROM job_output o USING (SELECT DISTINCT job_id, run_id FROM new) n
    WHERE o.job_id = n.job_id AND o.run_id <> n.run_id
)
SELECT DISTINCT job_id FROM new
