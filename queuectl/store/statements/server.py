"""What `doctor` asks the server before anything else: its version and clock, and the schema
revision."""

from __future__ import annotations

from queuectl.store.statements import Statement

__all__ = ["schema_revision", "server_info"]

#: The server's version, its clock, and whether it has a schema, in one round trip.
server_info = Statement("server_info", """
    SELECT current_setting('server_version') AS version, clock_timestamp() AS now,
           to_regclass('alembic_version') IS NOT NULL AS has_schema""")

#: The migration the schema is at.
schema_revision = Statement("schema_revision", "SELECT version_num FROM alembic_version")
