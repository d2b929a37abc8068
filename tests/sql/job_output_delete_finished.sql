-- job_output_delete_finished
DELETE FROM job_output o
WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = o.job_id AND j.run_id = o.run_id
                  AND (j.state = 'processing'
                       OR j.updated_at >= now() - %(s)s * interval '1 second'))
