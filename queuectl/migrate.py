"""Bring the schema to head with Alembic, under an advisory lock so concurrent first runs of
several commands or workers do not race."""

from __future__ import annotations

from pathlib import Path

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


def ensure_schema(engine: sa.Engine) -> None:
    """Migrate to head if the database is empty or older; a no-op (one query) when current."""
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
