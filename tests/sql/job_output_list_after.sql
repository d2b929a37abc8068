-- job_output_list_after
SELECT id, chunk FROM job_output
WHERE job_id = %(id)s AND run_id = %(run)s AND id > %(after)s
ORDER BY id
