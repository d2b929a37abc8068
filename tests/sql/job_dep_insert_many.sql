-- job_dep_insert_many
INSERT INTO job_deps (job_id, depends_on)
SELECT * FROM unnest(CAST(%(job_ids)s AS text[]), CAST(%(depends_on)s AS text[]))
ON CONFLICT DO NOTHING
