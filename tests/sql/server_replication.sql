-- server_replication
SELECT application_name AS name, CAST(client_addr AS text) AS address, state, sync_state,
       CAST(EXTRACT(EPOCH FROM replay_lag) AS float8) AS replay_lag,
       CAST(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS bigint) AS lag_bytes
FROM pg_stat_replication
ORDER BY application_name, client_addr
