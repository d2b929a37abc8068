"""What `doctor` asks the server before anything else: its version and clock, and the schema
revision."""

from __future__ import annotations

from queuectl.store.statements import Statement

__all__ = ["schema_revision", "server_info", "server_replication"]

#: The server's version, its clock, and whether it has a schema, in one round trip.
server_info = Statement("server_info", """
    SELECT current_setting('server_version') AS version, clock_timestamp() AS now,
           to_regclass('alembic_version') IS NOT NULL AS has_schema""")

#: The migration the schema is at.
schema_revision = Statement("schema_revision", "SELECT version_num FROM alembic_version")

#: The primary's replicas as `pg_stat_replication` shows them: name, address, state, whether
#: synchronous, and how far behind (time to replay, and bytes of WAL not yet replayed).
server_replication = Statement("server_replication", """
    SELECT application_name AS name, CAST(client_addr AS text) AS address, state, sync_state,
           CAST(EXTRACT(EPOCH FROM replay_lag) AS float8) AS replay_lag,
           CAST(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS bigint) AS lag_bytes
    FROM pg_stat_replication
    ORDER BY application_name, client_addr""")
