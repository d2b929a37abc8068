-- control_insert
INSERT INTO controls (job_id, run_id, action, signal)
VALUES (%(job_id)s, %(run_id)s, %(action)s, %(signal)s)
