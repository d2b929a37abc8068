"""Engine and connection factory (SQLAlchemy 2 on psycopg 3, application_name=queuectl).

Connection failures are translated here into `errors.DatabaseUnavailable` with one line that
says where we tried to connect, what failed and which variable to set.

Connections are pooler-safe: they carry no startup `options` (PgBouncer refuses them) and set
no session state, so a transaction pooler may hand each transaction to another server
connection. Nothing depends on the session time zone (timestamps travel as `timestamptz`,
formatted in UTC by the CLI). Server-side prepared statements are off unless the target allows
them (`prepared_statements=on` in the URL, see `settings`); when the server then answers that a
prepared statement does not exist (26000) or already exists (42P05), the engine stops preparing
for the rest of the process and logs one line (`stop_preparing`).
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Iterator

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from queuectl import errors, settings

__all__ = [
    "create_engine",
    "describe_error",
    "is_disconnect",
    "is_prepared_statement_error",
    "prepares_statements",
    "stop_preparing",
    "translate",
    "translate_errors",
]

log = logging.getLogger("queuectl.db")

# Where each engine's URL came from, for error messages.
_targets: weakref.WeakKeyDictionary[sa.Engine, settings.DatabaseTarget] = (
    weakref.WeakKeyDictionary()
)
# Engines that may still use server-side prepared statements (the user allowed them and the
# server has not refused one yet).
_preparing: weakref.WeakSet[sa.Engine] = weakref.WeakSet()
# psycopg prepares a statement on its own once it has run this many times on a connection.
_AUTO_PREPARE_AFTER = 5


def create_engine(
    target: settings.DatabaseTarget, *, pooled: bool = False, pool_size: int = 2,
    worker: bool = False,
) -> sa.Engine:
    """An engine for `target`; `pooled=False` (CLI) opens a connection per use.

    `worker=True`: one long-lived connection, no ping before each use (the worker retries on
    disconnects itself)."""
    kwargs: dict = {
        "connect_args": {
            "application_name": "queuectl-worker" if worker else "queuectl",
            "connect_timeout": 5,
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
    if target.prepared_statements:
        _preparing.add(engine)
    _watch(engine)
    return engine


def prepares_statements(engine: sa.Engine) -> bool:
    """True while `engine` may use server-side prepared statements."""
    return engine in _preparing


def is_prepared_statement_error(exc: BaseException) -> bool:
    """True when `exc` is the server saying a prepared statement does not exist (26000) or
    already exists (42P05): a pooler handed the session's statements to another connection."""
    orig = getattr(exc, "orig", None) or exc
    return isinstance(orig, psycopg.errors.InvalidSqlStatementName
                      | psycopg.errors.DuplicatePreparedStatement)


def stop_preparing(engine: sa.Engine, exc: BaseException,
                   connection: psycopg.Connection | None = None) -> None:
    """After a prepared-statement error (`exc`): stop using prepared statements on `engine`
    and on `connection` (the driver connection it happened on); logs one line, once."""
    if connection is not None:
        connection.prepare_threshold = None
    if engine in _preparing:
        _preparing.discard(engine)
        log.warning("prepared statements failed (%s): the server or a pooler in between does "
                    "not keep them; continuing without them (set prepared_statements=off in "
                    "the database URL)", describe_error(exc))


def _watch(engine: sa.Engine) -> None:
    """New connections prepare statements only while the engine may; a prepared-statement
    error drops its connection, whose record of prepared statements is out of step with the
    server, as after a disconnect (which callers already ride out)."""
    ref = weakref.ref(engine)

    def on_connect(dbapi_conn: psycopg.Connection, _record: object) -> None:
        eng = ref()
        on = eng is not None and prepares_statements(eng)
        dbapi_conn.prepare_threshold = _AUTO_PREPARE_AFTER if on else None

    def on_error(context: sa.engine.ExceptionContext) -> None:
        if is_prepared_statement_error(context.original_exception):
            eng = ref()
            if eng is not None:
                stop_preparing(eng, context.original_exception)
            context.is_disconnect = True

    sa.event.listen(engine, "connect", on_connect)
    sa.event.listen(engine, "handle_error", on_error)


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


def translate(engine: sa.Engine | None, exc: BaseException) -> errors.QueuectlError:
    """The `errors` tree's view of a driver error: a lost or refused connection is
    `DatabaseUnavailable`, a missing schema `SchemaError`, anything else `DatabaseError`; each
    with one line that says where and what."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, psycopg.errors.UndefinedTable):
        return errors.SchemaError(
            "the database has no queuectl schema (QUEUECTL_AUTO_MIGRATE=0?); "
            "run `queuectl migrate`"
        )
    target = _targets.get(engine) if engine is not None else None
    where = target.where if target is not None else (
        engine.url.render_as_string(hide_password=True) if engine is not None else "the server")
    if is_disconnect(exc) or isinstance(orig, psycopg.InterfaceError | sa_exc.InterfaceError):
        source = target.source if target is not None else "the engine URL"
        return errors.DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {where} (URL from {source}): "
            f"{describe_error(exc)}; set QUEUECTL_DATABASE_URL or pass --database-url"
        )
    return errors.DatabaseError(f"database error at {where}: {describe_error(exc)}")


@contextlib.contextmanager
def translate_errors(engine: sa.Engine | None) -> Iterator[None]:
    """Turn every driver error inside the block into the `errors` tree (see `translate`)."""
    try:
        yield
    except (sa_exc.SQLAlchemyError, psycopg.Error) as exc:
        raise translate(engine, exc) from exc
