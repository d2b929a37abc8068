"""Per-invocation state: the database target and an engine opened (and migrated) on demand."""

from __future__ import annotations

import sqlalchemy as sa

from queuectl import db, migrate, settings

__all__ = ["State"]


class State:
    """Holds the `--database-url` value; `engine()` connects and migrates on first use."""

    def __init__(self, database_url: str | None) -> None:
        self.database_url = database_url
        self._engine: sa.Engine | None = None

    def target(self) -> settings.DatabaseTarget:
        """The resolved database target (raises DatabaseUnavailable for a bad URL)."""
        return settings.resolve_database(self.database_url)

    def engine(self, *, migrate_schema: bool | None = None) -> sa.Engine:
        """An engine on the target; brings the schema to head unless QUEUECTL_AUTO_MIGRATE=0."""
        if self._engine is None:
            self._engine = db.create_engine(self.target())
            if settings.auto_migrate() if migrate_schema is None else migrate_schema:
                migrate.ensure_schema(self._engine)
        return self._engine
