"""Engine and connection factory (SQLAlchemy 2 on psycopg 3, application_name=queuectl).

Connection failures are translated here into `errors.DatabaseUnavailable` with one line that
says where we tried to connect, what failed and which variable to set.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from queuectl import errors, settings

__all__ = ["create_engine", "describe_error", "is_disconnect", "translate_errors"]

# Where each engine's URL came from, for error messages.
_targets: weakref.WeakKeyDictionary[sa.Engine, settings.DatabaseTarget] = (
    weakref.WeakKeyDictionary()
)


def create_engine(
    target: settings.DatabaseTarget, *, pooled: bool = False, pool_size: int = 2,
    worker: bool = False,
) -> sa.Engine:
    """An engine for `target`; `pooled=False` (CLI) opens a connection per use.

    `worker=True`: one long-lived connection, no ping before each use (the worker retries on
    disconnects itself), and generic plans for its few prepared statements, so PostgreSQL does
    not re-plan the claim on every call (planning cost more than executing it)."""
    options = "-c timezone=UTC"
    if worker:
        options += " -c plan_cache_mode=force_generic_plan"
    kwargs: dict = {
        "connect_args": {
            "application_name": "queuectl-worker" if worker else "queuectl",
            "connect_timeout": 5,
            "options": options,
        },
    }
    if worker:
        kwargs.update(pool_size=1, max_overflow=0, pool_pre_ping=False)
    elif pooled:
        kwargs.update(pool_size=pool_size, max_overflow=2, pool_pre_ping=True)
    else:
        kwargs["poolclass"] = NullPool
    engine = sa.create_engine(target.url, **kwargs)
    _targets[engine] = target
    return engine


def describe_error(exc: BaseException) -> str:
    """The first meaningful line of a driver error, without SQLAlchemy's boilerplate."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # libpq repeats "connection to server at ... failed:" per address; keep the last reason.
    return lines[-1] if lines else type(orig).__name__


def is_disconnect(exc: BaseException) -> bool:
    """True when `exc` means the connection or server went away (worth retrying)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, psycopg.OperationalError | psycopg.errors.AdminShutdown) or isinstance(
        exc, sa_exc.OperationalError
    )


def _target(engine: sa.Engine) -> settings.DatabaseTarget:
    return _targets.get(engine) or settings.DatabaseTarget(engine.url, "the engine URL")


@contextlib.contextmanager
def translate_errors(engine: sa.Engine) -> Iterator[None]:
    """Turn connection failures inside the block into `DatabaseUnavailable`."""
    try:
        yield
    except sa_exc.ProgrammingError as exc:
        if isinstance(exc.orig, psycopg.errors.UndefinedTable):
            raise errors.SchemaError(
                "the database has no queuectl schema (QUEUECTL_AUTO_MIGRATE=0?); "
                "run `queuectl migrate`"
            ) from exc
        if isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
            target = _target(engine)
            raise errors.DatabaseUnavailable(
                f"role {engine.url.username or 'of the connection'!r} may not use the queuectl "
                f"tables in {target.where} (URL from {target.source}): {describe_error(exc)}; "
                "connect as their owner or GRANT the role access"
            ) from exc
        raise
    except sa_exc.OperationalError as exc:
        target = _target(engine)
        raise errors.DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {target.where} (URL from {target.source}): "
            f"{describe_error(exc)}; set QUEUECTL_DATABASE_URL or pass --database-url"
        ) from exc
