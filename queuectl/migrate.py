"""Bring the schema to head with Alembic, under an advisory lock so concurrent first runs of
several commands or workers do not race."""

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
        missing = f'database "{engine.url.database}" does not exist'
        if not engine.url.database or missing not in str(exc.orig):
            return  # e.g. an unknown role: translate_errors reports it on the next attempt
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
    """Upgrade to head under the advisory lock; returns the revision reached."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    _create_database_if_missing(engine)
    with db.translate_errors(engine), engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        try:
            conn.commit()
            current = _current(conn)
            conn.commit()
            if current != models.SCHEMA_HEAD:
                cfg.attributes["connection"] = conn
                try:
                    command.upgrade(cfg, "head")
                except Exception as exc:  # alembic raises many types; report one line
                    conn.rollback()
                    raise errors.SchemaError(
                        f"migration failed: {db.describe_error(exc)}"
                    ) from exc
                conn.commit()
            return _current(conn) or ""
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            conn.commit()
