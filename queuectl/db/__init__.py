"""Engine and connection factory (SQLAlchemy 2 on psycopg 3, application_name=queuectl).

Connection failures are translated here into `errors.DatabaseUnavailable` with one line that
says where we tried to connect, what failed and which variable to set.

Every connection (engines through `creator=`, the quick commands, LISTEN) comes from
`open_connection`: the URL goes to libpq as given, so both multi-host forms (a comma list of
hosts, or `host=`/`port=` parameters) and all of libpq's parameters work; SQLAlchemy, whose
URL parser cannot read a host list, never sees it. Hosts are tried in order and the first
writable one is used; a server that is a standby or read-only is passed over, and a write it
refuses for that reason (SQLSTATE 25006) is an outage of its connection, never a refusal.

Connections are pooler-safe: they carry no startup `options` (PgBouncer refuses them) and set
no session state, so a transaction pooler may hand each transaction to another server
connection. Nothing depends on the session time zone (timestamps travel as `timestamptz`,
formatted in UTC by the CLI). Server-side prepared statements are off unless the target allows
them (`prepared_statements=on` in the URL, see `settings`); when the server then answers that a
prepared statement does not exist (26000) or already exists (42P05), the engine stops preparing
for the rest of the process and logs one line (`stop_preparing`).

SQLAlchemy and psycopg are imported inside the functions that need them: a command that never
touches the database (`--help`, `--version`, completion) must not pay for loading them, and
the quick commands (`enqueue`, `status`) use a bare psycopg connection (`connect`) without
SQLAlchemy at all.
"""

from __future__ import annotations

import contextlib
import logging
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
    "is_prepared_statement_error",
    "is_read_only_error",
    "is_transient",
    "open_connection",
    "prepares_statements",
    "reached",
    "refused",
    "stop_preparing",
    "target_of",
    "translate",
    "translate_errors",
    "translate_psycopg_errors",
    "unavailable",
    "unwritable",
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
_CONNECT_TIMEOUT = 5


def sa_url(target: settings.DatabaseTarget) -> sa.URL:
    """SQLAlchemy's view of `target`'s URL, for display and tests. Engines never connect
    through it (see `create_engine`); a URL with a comma list of hosts, which SQLAlchemy's
    parser cannot read, gives the URL without its hosts (`_engine_url`)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(target.dsn)
    except ValueError:
        return _engine_url(target)


def _engine_url(target: settings.DatabaseTarget) -> sa.URL:
    """What SQLAlchemy is told of `target`: the driver, user and database, nothing it would
    act on (the connections come from `open_connection`)."""
    import sqlalchemy as sa

    return sa.URL.create("postgresql+psycopg", username=target.params.get("user"),
                         database=target.database or None)


def create_engine(
    target: settings.DatabaseTarget, *, pooled: bool = False, pool_size: int = 2,
    worker: bool = False,
) -> sa.Engine:
    """An engine for `target`; `pooled=False` (CLI) opens a connection per use.

    Connections come from `open_connection` (the URL goes to libpq as given, every host and
    parameter of it); a pooled connection whose server has turned read-only or into a
    standby is dropped at checkout, not revalidated.

    `worker=True`: one long-lived connection, no ping before each use (the worker retries on
    disconnects itself)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    name = "queuectl-worker" if worker else "queuectl"
    kwargs: dict[str, Any] = {
        "creator": lambda: open_connection(target, application_name=name),
    }
    if worker:
        kwargs.update(pool_size=1, max_overflow=0, pool_pre_ping=False)
    elif pooled:
        kwargs.update(pool_size=pool_size, max_overflow=2, pool_pre_ping=True)
    else:
        kwargs["poolclass"] = NullPool
    engine = sa.create_engine(_engine_url(target), **kwargs)
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
    import psycopg

    orig = getattr(exc, "orig", None) or exc
    return isinstance(orig, psycopg.errors.InvalidSqlStatementName
                      | psycopg.errors.DuplicatePreparedStatement)


def stop_preparing(engine: sa.Engine, exc: BaseException,
                   connection: psycopg.Connection[Any] | None = None) -> None:
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
    import sqlalchemy as sa

    ref = weakref.ref(engine)

    def on_connect(dbapi_conn: psycopg.Connection[Any], _record: object) -> None:
        eng = ref()
        on = eng is not None and prepares_statements(eng)
        dbapi_conn.prepare_threshold = _AUTO_PREPARE_AFTER if on else None

    def on_checkout(dbapi_conn: psycopg.Connection[Any], _record: object,
                    _proxy: object) -> None:
        # A server that turned read-only (or was demoted) still answers a ping: the last
        # parameters it reported decide, and the pool replaces the connection.
        problem = unwritable(dbapi_conn)
        if problem:
            raise sa.exc.DisconnectionError(f"the server became {problem}")

    def on_error(context: sa.engine.ExceptionContext) -> None:
        if is_read_only_error(context.original_exception):
            context.is_disconnect = True
        if is_prepared_statement_error(context.original_exception):
            eng = ref()
            if eng is not None:
                stop_preparing(eng, context.original_exception)
            context.is_disconnect = True

    sa.event.listen(engine, "connect", on_connect)
    sa.event.listen(engine, "checkout", on_checkout)
    sa.event.listen(engine, "handle_error", on_error)


def connect(target: settings.DatabaseTarget, *, application_name: str = "queuectl",
            autocommit: bool = False) -> psycopg.Connection[Any]:
    """A bare psycopg connection (no SQLAlchemy) for the quick CLI commands and LISTEN;
    pooler-safe like the engines (no startup options, prepared statements only where the
    target allows them), on a writable server (see `open_connection`).

    Raises DatabaseUnavailable, naming where and why, when no server can be used."""
    import psycopg

    try:
        conn = open_connection(target, application_name=application_name,
                               autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise unavailable(target, exc) from exc
    if not target.prepared_statements:
        conn.prepare_threshold = None
    return conn


# libpq's own words for a server that `target_session_attrs` turned down.
_UNWRITABLE_REASONS = ("read-only", "hot standby", "recovery")


def open_connection(target: settings.DatabaseTarget, *, application_name: str,
                    autocommit: bool = False) -> psycopg.Connection[Any]:
    """A psycopg connection to the first writable server among `target`'s hosts, tried in
    the URL's order (libpq's multi-host rules); raises `psycopg.OperationalError`, naming
    every host tried and why it was passed over, when there is none.

    The URL's parameters reach libpq as given; queuectl adds `connect_timeout` (5 s) and
    `target_session_attrs=read-write` only where neither the URL nor the environment sets
    them. A server that reports itself in recovery or read-only (`in_hot_standby`,
    `default_transaction_read_only`) is passed over whatever the URL asks: queuectl writes."""
    import psycopg

    attempts = _attempts(target, application_name=application_name)
    failures: list[tuple[str, str]] = []
    for label, params in attempts:
        try:
            conn = psycopg.connect(autocommit=autocommit, **params)
        except psycopg.OperationalError as exc:
            if len(attempts) == 1:
                raise
            failures.append((label, _reason(exc)))
            continue
        problem = unwritable(conn)
        if problem is None:
            return conn
        conn.close()
        failures.append((label, problem))
    raise psycopg.OperationalError(_no_server(failures))


def _attempts(target: settings.DatabaseTarget, *,
              application_name: str) -> list[tuple[str, dict[str, Any]]]:
    """One (host label, parameters) per host of `target`, in order."""
    import os

    params: dict[str, Any] = dict(target.params)
    params["application_name"] = application_name
    for key, variable, default in (("connect_timeout", "PGCONNECT_TIMEOUT", _CONNECT_TIMEOUT),
                                   ("target_session_attrs", "PGTARGETSESSIONATTRS",
                                    "read-write")):
        if key not in params and not os.environ.get(variable):
            params[key] = default
    for key, variable in (("host", "PGHOST"), ("hostaddr", "PGHOSTADDR"), ("port", "PGPORT")):
        if key not in params and os.environ.get(variable):
            params[key] = os.environ[variable]
    lists = {k: str(params[k]).split(",") for k in ("host", "hostaddr", "port") if k in params}
    count = max((len(v) for k, v in lists.items() if k != "port"), default=1)
    labels = target.hosts
    if count == 1 or len(labels) != count or any(1 < len(v) != count for v in lists.values()):
        return [(",".join(labels), params)]  # one attempt; libpq reports what is wrong
    return [(labels[i], {**params, **{k: v[i if len(v) > 1 else 0] for k, v in lists.items()}})
            for i in range(count)]


def unwritable(conn: psycopg.Connection[Any]) -> str | None:
    """Why the server of `conn` cannot take queuectl's writes, from what it reported (a
    standby, or read-only by default); None when it can (or did not say)."""
    if conn.info.parameter_status("in_hot_standby") == "on":
        return "in recovery (a standby)"
    if conn.info.parameter_status("default_transaction_read_only") == "on":
        return "read-only (default_transaction_read_only is on)"
    return None


def _reason(exc: BaseException) -> str:
    """libpq's reason for one host's failed connection, without the host it repeats."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    first = lines[0] if lines else type(exc).__name__
    return first.rsplit(" failed: ", 1)[-1]


def _no_server(failures: list[tuple[str, str]]) -> str:
    """One line for a connection that found no usable server among several hosts."""
    each = "; ".join(f"{label}: {reason}" for label, reason in failures)
    if len(failures) == 1:
        return f"the server at {each}"
    if any(word in reason for _, reason in failures for word in _UNWRITABLE_REASONS):
        return f"no writable server among {len(failures)} hosts ({each})"
    return f"no server reachable among {len(failures)} hosts ({each})"


def reached(conn: psycopg.Connection[Any]) -> str:
    """`host:port` of the server `conn` is connected to (of the URL's hosts, the one
    reached)."""
    host = conn.info.host or conn.info.hostaddr
    shown = f"[{host}]" if ":" in host and not host.startswith("/") else host
    return f"{shown}:{conn.info.port}"


def unavailable(target: settings.DatabaseTarget, exc: BaseException) -> errors.DatabaseUnavailable:
    """The one-line error for a server that cannot be reached at `target` (or turned out to
    be read-only or a standby when a statement wrote)."""
    if is_read_only_error(exc):
        return errors.DatabaseUnavailable(
            f"the server at {target.where} (URL from {target.source}) is read-only or in "
            f"recovery: {describe_error(exc)}; queuectl needs a writable primary (with "
            "several hosts in the URL it picks the writable one)")
    return errors.DatabaseUnavailable(
        f"cannot connect to PostgreSQL at {target.where} (URL from {target.source}): "
        f"{describe_error(exc)}; {settings.connection_hint(target)}")


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


# SQLSTATEs of a server that is away or turns connections down (besides the classes 08,
# connection exception, and 28, invalid authorization): shutting down (57P01, 57P02),
# starting up (57P03), out of connection slots (53300), no such database (3D000). Any other
# SQLSTATE is the server answering a statement: a refusal (`errors.DatabaseError`), never an
# outage to wait out.
_OUTAGE_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "3D000"})
# Refusals that may pass when the statement is tried again: a deadlock or serialization
# failure (class 40), the server short of resources (class 53), a lock or statement timeout.
_TRANSIENT_CLASSES = ("40", "53")
_TRANSIENT_STATES = frozenset({"55P03", "57014"})


def is_disconnect(exc: BaseException) -> bool:
    """True when `exc` means the connection or server went away (worth retrying): a
    connection the driver found closed or broken, a libpq failure without a SQLSTATE, or one
    of the outage SQLSTATEs; False for every error the server answered a statement with."""
    import psycopg
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if is_read_only_error(exc):
        return True
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, psycopg.Error):
        state = orig.sqlstate
        if state is None:
            return isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)
        return state[:2] in ("08", "28") or state in _OUTAGE_STATES
    return isinstance(exc, sa_exc.OperationalError)


def is_read_only_error(exc: BaseException) -> bool:
    """True when `exc` is the server refusing a write because it is read-only or a standby
    (SQLSTATE 25006, or "... during recovery"): an outage of that connection, whose server
    will refuse every write, never a refusal of one statement."""
    import psycopg

    orig = getattr(exc, "orig", None) or exc
    if not isinstance(orig, psycopg.Error) or orig.sqlstate is None:
        return False
    return orig.sqlstate == "25006" or "during recovery" in str(orig)


def is_transient(sqlstate: str | None) -> bool:
    """True for a refusal that may pass if the same statement is tried again."""
    return sqlstate is not None and (sqlstate[:2] in _TRANSIENT_CLASSES
                                     or sqlstate in _TRANSIENT_STATES)


def refused(where: str, exc: BaseException) -> errors.DatabaseError:
    """The one-line error for a statement the server at `where` refused: its primary message
    and SQLSTATE (not the CONTEXT line of the function that raised it)."""
    import psycopg

    orig = getattr(exc, "orig", None) or exc
    state = orig.sqlstate if isinstance(orig, psycopg.Error) else None
    primary = orig.diag.message_primary if isinstance(orig, psycopg.Error) else None
    what = f"{primary} (SQLSTATE {state})" if primary and state else describe_error(exc)
    if isinstance(orig, psycopg.DataError):
        return errors.InvalidInput(f"invalid input: {what}", sqlstate=state)
    return errors.DatabaseError(f"database error at {where}: {what}", sqlstate=state,
                                transient=is_transient(state))


_NO_SCHEMA = ("the database has no queuectl schema (QUEUECTL_AUTO_MIGRATE=0?); "
              "run `queuectl migrate`")


def _no_privilege(target: settings.DatabaseTarget, exc: BaseException) -> errors.QueuectlError:
    from urllib.parse import urlsplit

    role = urlsplit(target.conninfo).username or "of the connection"
    return errors.DatabaseUnavailable(
        f"role {role!r} may not use the queuectl tables in {target.where} (URL from "
        f"{target.source}): {describe_error(exc)}; connect as their owner or GRANT the role "
        "access")


def translate(engine: Any, exc: BaseException) -> errors.QueuectlError:
    """The `errors` tree's view of a driver error on `engine` (or a connection, or None): a
    lost or refused connection is `DatabaseUnavailable` (so is a role without the privileges
    the queuectl tables need), a missing schema `SchemaError`, anything else `DatabaseError`;
    each one line that says where and what."""
    import psycopg
    from sqlalchemy import exc as sa_exc

    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, psycopg.errors.UndefinedTable):
        return errors.SchemaError(_NO_SCHEMA)
    target = _targets.get(engine) if engine is not None and hasattr(engine, "url") else None
    if target is None and engine is not None and hasattr(engine, "url"):
        target = target_of(engine)
    if isinstance(orig, psycopg.errors.InsufficientPrivilege) and target is not None:
        return _no_privilege(target, exc)
    if is_disconnect(exc) or isinstance(orig, psycopg.InterfaceError | sa_exc.InterfaceError):
        if target is not None:
            return unavailable(target, exc)
        return errors.DatabaseUnavailable(f"lost the connection to PostgreSQL: "
                                          f"{describe_error(exc)}")
    return refused(target.where if target is not None else "PostgreSQL", exc)


@contextlib.contextmanager
def translate_errors(engine: Any) -> Iterator[None]:
    """Turn every driver error inside the block into the `errors` tree (see `translate`)."""
    import psycopg
    from sqlalchemy import exc as sa_exc

    try:
        yield
    except (sa_exc.SQLAlchemyError, psycopg.Error) as exc:
        raise translate(engine, exc) from exc


@contextlib.contextmanager
def translate_psycopg_errors(target: settings.DatabaseTarget) -> Iterator[None]:
    """`translate_errors` for a bare psycopg connection from `connect`."""
    import psycopg

    try:
        yield
    except psycopg.errors.UndefinedTable as exc:
        raise errors.SchemaError(_NO_SCHEMA) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise _no_privilege(target, exc) from exc
    except psycopg.Error as exc:
        if is_disconnect(exc):
            raise unavailable(target, exc) from exc
        raise refused(target.where, exc) from exc
