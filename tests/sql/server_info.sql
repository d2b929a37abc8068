-- server_info
SELECT current_setting('server_version') AS version, clock_timestamp() AS now,
to_regclass('alembic_version') IS NOT NULL AS has_schema
