"""Engine and connection factory (SQLAlchemy 2 on psycopg 3, application_name=queuectl).

Connection failures are translated here into `errors.DatabaseUnavailable` with one line that
says where we tried to connect, what failed and which variable to set.

SQLAlchemy and psycopg are imported inside the functions that need them: a command that never
touches the database (`--help`, `--version`, completion) must not pay for loading them, and
the quick commands (`enqueue`, `status`) use a bare psycopg connection (`connect`) without
SQLAlchemy at all.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from queuectl import errors, settings

if TYPE_CHECKING:
    import psycopg
    import sqlalchemy as sa

__all__ = [
    "connect",
    "create_engine",
    "describe_error",
    "is_disconnect",
    "target_of",
    "translate_errors",
    "translate_psycopg_errors",
    "unavailable",
]

# Where each engine's URL came from, for error messages.
_targets: weakref.WeakKeyDictionary[sa.Engine, settings.DatabaseTarget] = (
    weakref.WeakKeyDictionary()
)
_CONNECT_TIMEOUT = 5


def create_engine(
    target: settings.DatabaseTarget, *, pooled: bool = False, pool_size: int = 2,
    worker: bool = False,
) -> sa.Engine:
    """An engine for `target`; `pooled=False` (CLI) opens a connection per use.

    `worker=True`: one long-lived connection, no ping before each use (the worker retries on
    disconnects itself), and generic plans for its few prepared statements, so PostgreSQL does
    not re-plan the claim on every call (planning cost more than executing it)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    options = "-c timezone=UTC"
    if worker:
        options += " -c plan_cache_mode=force_generic_plan"
    kwargs: dict[str, Any] = {
        "connect_args": {
            "application_name": "queuectl-worker" if worker else "queuectl",
            "connect_timeout": _CONNECT_TIMEOUT,
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


def connect(target: settings.DatabaseTarget) -> psycopg.Connection[Any]:
    """A bare psycopg connection (no SQLAlchemy) for the quick CLI commands; time zone UTC.

    Raises DatabaseUnavailable, naming where and why, when the server cannot be reached."""
    import psycopg

    try:
        return psycopg.connect(target.conninfo, application_name="queuectl",
                               connect_timeout=_CONNECT_TIMEOUT, options="-c timezone=UTC")
    except psycopg.OperationalError as exc:
        raise unavailable(target, exc) from exc


def unavailable(target: settings.DatabaseTarget, exc: BaseException) -> errors.DatabaseUnavailable:
    """The one-line error for a server that cannot be reached at `target`."""
    return errors.DatabaseUnavailable(
        f"cannot connect to PostgreSQL at {target.where} (URL from {target.source}): "
        f"{describe_error(exc)}; set QUEUECTL_DATABASE_URL or pass --database-url")


def target_of(engine: sa.Engine) -> settings.DatabaseTarget:
    """The target `engine` was created for (or its URL, for an engine made elsewhere)."""
    return _targets.get(engine) or settings.DatabaseTarget(
        engine.url.render_as_string(hide_password=False), "the engine URL")


def describe_error(exc: BaseException) -> str:
    """The first meaningful line of a driver error, without SQLAlchemy's boilerplate."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # libpq repeats "connection to server at ... failed:" per address; keep the last reason.
    return lines[-1] if lines else type(orig).__name__


def is_disconnect(exc: BaseException) -> bool:
    """True when `exc` means the connection or server went away (worth retrying)."""
    import psycopg
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, psycopg.OperationalError | psycopg.errors.AdminShutdown) or isinstance(
        exc, sa_exc.OperationalError
    )


_NO_SCHEMA = ("the database has no queuectl schema (QUEUECTL_AUTO_MIGRATE=0?); "
              "run `queuectl migrate`")


@contextlib.contextmanager
def translate_psycopg_errors(target: settings.DatabaseTarget) -> Iterator[None]:
    """`translate_errors` for a bare psycopg connection from `connect`."""
    import psycopg

    try:
        yield
    except psycopg.errors.UndefinedTable as exc:
        raise errors.SchemaError(_NO_SCHEMA) from exc
    except psycopg.OperationalError as exc:
        raise unavailable(target, exc) from exc


@contextlib.contextmanager
def translate_errors(engine: sa.Engine) -> Iterator[None]:
    """Turn connection failures inside the block into `DatabaseUnavailable`."""
    import psycopg
    from sqlalchemy import exc as sa_exc

    try:
        yield
    except sa_exc.ProgrammingError as exc:
        if isinstance(exc.orig, psycopg.errors.UndefinedTable):
            raise errors.SchemaError(_NO_SCHEMA) from exc
        raise
    except sa_exc.OperationalError as exc:
        raise unavailable(target_of(engine), exc) from exc
