"""Bring the schema to head with Alembic, under an advisory lock so concurrent first runs of
several commands or workers do not race.

The lock is transaction-scoped (`pg_advisory_xact_lock`) and the whole upgrade runs in that one
transaction (PostgreSQL's DDL is transactional): a transaction pooler keeps a transaction on
one server connection, whereas a session lock would be taken on one server connection and
"released" on another, staying held for good."""

from __future__ import annotations

from pathlib import Path

import psycopg
import sqlalchemy as sa

from queuectl import db, errors, models

__all__ = ["ensure_schema", "migrate", "script_location"]

# Arbitrary constant: the advisory lock key all queuectl migrations share.
_LOCK_KEY = 0x71756575  # "queu"


def script_location() -> Path:
    """The top-level `alembic/` directory of the source tree queuectl is installed from."""
    path = Path(__file__).resolve().parent.parent / "alembic"
    if not (path / "env.py").exists():
        raise errors.SchemaError(f"migration scripts not found at {path}; reinstall queuectl")
    return path


def _current(conn: sa.Connection) -> str | None:
    exists = conn.execute(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar()
    if not exists:
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _create_database_if_missing(engine: sa.Engine) -> None:
    """A server without the `queuectl` database gets one (needs CREATEDB), so a fresh
    PostgreSQL works out of the box."""
    try:
        with engine.connect():
            return
    except sa.exc.OperationalError as exc:
        if "does not exist" not in str(exc.orig) or not engine.url.database:
            return  # translate_errors reports it on the next attempt
    admin = sa.create_engine(engine.url.set(database="postgres"),
                             isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with db.translate_errors(admin), admin.connect() as conn:
            name = engine.url.database.replace('"', '""')
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.ProgrammingError as exc:
        if not isinstance(exc.orig, psycopg.errors.DuplicateDatabase):
            raise errors.SchemaError(
                f"database {engine.url.database!r} does not exist and cannot be created: "
                f"{db.describe_error(exc)}") from exc
    finally:
        admin.dispose()


def ensure_schema(engine: sa.Engine) -> None:
    """Migrate to head if the database is empty or older; a no-op (one query) when current."""
    _create_database_if_missing(engine)
    with db.translate_errors(engine), engine.connect() as conn:
        current = _current(conn)
        conn.rollback()
    if current == models.SCHEMA_HEAD:
        return
    migrate(engine)


def migrate(engine: sa.Engine) -> str:
    """Upgrade to head in one transaction under the advisory lock; returns the revision
    reached."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    _create_database_if_missing(engine)
    with db.translate_errors(engine), engine.begin() as conn:
        # One migrator at a time: the others wait here, then find the schema at head.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        if _current(conn) != models.SCHEMA_HEAD:
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, "head")
            except Exception as exc:  # alembic raises many types; report one line
                raise errors.SchemaError(f"migration failed: {db.describe_error(exc)}") from exc
        return _current(conn) or ""
