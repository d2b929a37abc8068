"""Bring the schema to head with Alembic, under an advisory lock so concurrent first runs of
several commands or workers do not race; create a missing database (and say so on stderr).

The lock is transaction-scoped (`pg_advisory_xact_lock`) and the whole upgrade runs in that one
transaction (PostgreSQL's DDL is transactional): a transaction pooler keeps a transaction on
one server connection, whereas a session lock would be taken on one server connection and
"released" on another, staying held for good.

Alembic is imported only when the schema is behind, and the quick commands check the revision
over a bare psycopg connection (`connect_ready`) without loading SQLAlchemy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from queuectl import db, errors, settings

if TYPE_CHECKING:
    import psycopg
    import sqlalchemy as sa

__all__ = ["SCHEMA_HEAD", "connect_ready", "ensure_schema", "migrate", "script_location"]

#: The Alembic revision this code expects; tests check it equals the scripts' head.
SCHEMA_HEAD = "0009"

# Arbitrary constant: the advisory lock key all queuectl migrations share.
_LOCK_KEY = 0x71756575  # "queu"
_CURRENT = "SELECT version_num FROM alembic_version"


def script_location() -> Path:
    """The top-level `alembic/` directory of the source tree queuectl is installed from."""
    path = Path(__file__).resolve().parents[2] / "alembic"
    if not (path / "env.py").exists():
        raise errors.SchemaError(f"migration scripts not found at {path}; reinstall queuectl")
    return path


def _current(conn: sa.Connection) -> str | None:
    import sqlalchemy as sa

    exists = conn.execute(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar()
    if not exists:
        return None
    return conn.execute(sa.text(_CURRENT)).scalar()


def _missing_database(exc: BaseException, name: str) -> bool:
    """True when `exc` says that this very database does not exist (not a role, not a
    table)."""
    return f'database "{name}" does not exist' in str(getattr(exc, "orig", None) or exc)


def _create_database(target: settings.DatabaseTarget, name: str) -> None:
    """CREATE DATABASE `name` through the server's `postgres` database (needs CREATEDB) and
    announce it on stderr; a concurrent creator winning the race is fine. Refused (SchemaError)
    on a server nobody named (`target.may_create`)."""
    import psycopg
    from psycopg import sql

    if not target.may_create:
        raise errors.SchemaError(
            f"database {name!r} does not exist on {target.where.rsplit('/', 1)[0]} "
            f"({target.source}, a server nobody named); create it there with `queuectl "
            "migrate --create-database`, or name your queue's server: --database-url, "
            "QUEUECTL_DATABASE_URL or a context (./start.sh)")

    admin = target.with_database("postgres")
    try:
        with db.connect(admin) as conn:
            conn.autocommit = True
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.errors.DuplicateDatabase:
        return
    except psycopg.Error as exc:
        raise errors.SchemaError(
            f"database {name!r} does not exist and cannot be created: "
            f"{db.describe_error(exc)}") from exc
    host = target.where.rsplit("/", 1)[0]
    print(f"created database {name} on {host}", file=sys.stderr, flush=True)


def _create_database_if_missing(engine: sa.Engine, target: settings.DatabaseTarget) -> None:
    """A server without the `queuectl` database gets one, so a fresh PostgreSQL works out of
    the box."""
    import sqlalchemy as sa

    try:
        with engine.connect():
            return
    except sa.exc.OperationalError as exc:
        if not target.database or not _missing_database(exc, target.database):
            return  # e.g. an unknown role: translate_errors reports it on the next attempt
    _create_database(target, target.database)


def ensure_schema(engine: sa.Engine) -> None:
    """Migrate to head if the database is empty or older; a no-op (one query) when current."""
    _create_database_if_missing(engine, db.target_of(engine))
    with db.translate_errors(engine), engine.connect() as conn:
        current = _current(conn)
        conn.rollback()
    if current == SCHEMA_HEAD:
        return
    migrate(engine)


def connect_ready(target: settings.DatabaseTarget, *,
                  migrate_schema: bool) -> psycopg.Connection[Any]:
    """A bare psycopg connection to `target`; with `migrate_schema`, the database is created
    if missing and the schema brought to head first (SQLAlchemy and Alembic load only then)."""
    import psycopg

    try:
        conn = db.connect(target)
    except errors.DatabaseUnavailable as exc:
        database = target.database if migrate_schema else None
        if not database or not _missing_database(exc.__cause__ or exc, database):
            raise
        _create_database(target, database)
        conn = db.connect(target)
    if not migrate_schema:
        return conn
    try:
        with db.translate_psycopg_errors(target):
            try:
                current = conn.execute(_CURRENT).fetchone()
            except psycopg.errors.UndefinedTable:
                current = None
    except errors.QueuectlError:
        conn.close()
        raise
    conn.rollback()
    if current is None or current[0] != SCHEMA_HEAD:
        engine = db.create_engine(target)
        try:
            migrate(engine)
        finally:
            engine.dispose()
    return conn


def migrate(engine: sa.Engine) -> str:
    """Upgrade to head in one transaction under the advisory lock; returns the revision
    reached."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    _create_database_if_missing(engine, db.target_of(engine))
    with db.translate_errors(engine), engine.begin() as conn:
        # One migrator at a time: the others wait here, then find the schema at head.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        if _current(conn) != SCHEMA_HEAD:
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, "head")
            except Exception as exc:  # alembic raises many types; report one line
                raise errors.SchemaError(f"migration failed: {db.describe_error(exc)}") from exc
        return _current(conn) or ""
