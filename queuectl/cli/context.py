"""Per-invocation state: the database target, and a connection or engine opened (and the
schema migrated) on demand. Nothing here loads SQLAlchemy or psycopg until a command asks for
a connection."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from queuectl import db, settings
from queuectl.db import migrate

if TYPE_CHECKING:
    import psycopg
    import sqlalchemy as sa

__all__ = ["State"]


class State:
    """Holds the `--database-url` and `--context` values; `engine()` and `connection()`
    connect and migrate on first use."""

    def __init__(self, database_url: str | None, context: str | None = None) -> None:
        self.database_url = database_url
        self.context = context
        self._target: settings.DatabaseTarget | None = None
        self._engine: sa.Engine | None = None

    def target(self) -> settings.DatabaseTarget:
        """The resolved database target (raises DatabaseUnavailable for a bad URL or an
        unknown context)."""
        if self._target is None:
            self._target = settings.resolve_database(self.database_url, self.context)
        return self._target

    def allow_create_database(self) -> None:
        """Let a missing database be created even on a server nobody named (`migrate
        --create-database`); call before the first connection."""
        self._target = dataclasses.replace(self.target(), create_database=True)

    def _migrates(self, migrate_schema: bool | None) -> bool:
        return settings.auto_migrate() if migrate_schema is None else migrate_schema

    def engine(self, *, migrate_schema: bool | None = None) -> sa.Engine:
        """An engine on the target; brings the schema to head unless QUEUECTL_AUTO_MIGRATE=0."""
        if self._engine is None:
            self._engine = db.create_engine(self.target())
            if self._migrates(migrate_schema):
                migrate.ensure_schema(self._engine)
        return self._engine

    def connection(self, *, migrate_schema: bool | None = None) -> psycopg.Connection[Any]:
        """A bare psycopg connection for the quick commands (no SQLAlchemy unless the schema
        must be migrated); the caller closes it."""
        return migrate.connect_ready(self.target(), migrate_schema=self._migrates(migrate_schema))
