"""Alembic environment: migrations run on the connection queuectl hands over, or on the URL
resolved from the usual settings when run from the `alembic` command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from queuectl import db, settings
from queuectl.db import models

config = context.config
target_metadata = models.metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if context.is_offline_mode():
    context.configure(url=db.sa_url(settings.resolve_database()), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif connection is not None:
    _run(connection)
else:
    engine = create_engine(db.sa_url(settings.resolve_database()))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
