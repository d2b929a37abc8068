"""The one way the store sends a statement of the catalogue (`store.statements`): on a psycopg
connection, with `%(name)s` parameters, prepared where the connection may prepare, and rows
back as named tuples.

Every path uses it: the bare-psycopg commands (`store.quick`) on their own connection, the
engine paths on the driver connection under their SQLAlchemy connection (`fetch` in
`store._common` takes it out and translates a driver error as SQLAlchemy would). Driver errors
leave as psycopg errors; the store's boundary (`db.translate_errors`,
`db.translate_psycopg_errors`) turns them into the `errors` tree. Imports psycopg only when a
statement runs, never SQLAlchemy.

Prepared statements: `prepare=True` (the worker's hot statements) prepares at the first run
while the connection may prepare at all (`prepare_threshold` is None when the URL does not
allow them, see `db.connect` and `db.create_engine`); `None` leaves it to psycopg (prepared
after a few runs on one connection, when allowed); `False` never. A prepared-statement error
(a pooler that does not keep them) executed nothing: the connection stops preparing and, in
autocommit mode, the statement runs again unprepared; inside a transaction it cannot (the
transaction is aborted), and the error goes up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from queuectl import db
from queuectl.store.statements import Statement

if TYPE_CHECKING:
    import psycopg

__all__ = ["execute", "fetch"]

Params = Mapping[str, Any] | None


#: Told of the prepared-statement error after which a connection stopped preparing.
Stopped = Callable[[BaseException], None] | None


def fetch(conn: psycopg.Connection[Any], statement: Statement, params: Params = None, *,
          prepare: bool | None = None, stopped: Stopped = None) -> list[Any]:
    """Run `statement` on `conn` and return its rows (named tuples; [] for a statement that
    returns none)."""
    cursor = _run(conn, statement, params, prepare, stopped)
    try:
        # `pgresult.nfields`, not `description`: that builds a Column per field on every call.
        result = cursor.pgresult
        return cursor.fetchall() if result is not None and result.nfields else []
    finally:
        cursor.close()


def execute(conn: psycopg.Connection[Any], statement: Statement, params: Params = None, *,
            prepare: bool | None = None, stopped: Stopped = None) -> int:
    """Run `statement` on `conn`; returns the number of rows it touched."""
    cursor = _run(conn, statement, params, prepare, stopped)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _run(conn: psycopg.Connection[Any], statement: Statement, params: Params,
         prepare: bool | None, stopped: Stopped) -> psycopg.Cursor[Any]:
    import psycopg
    from psycopg.rows import namedtuple_row

    if conn.prepare_threshold is None:
        prepare = False
    cursor = conn.cursor(row_factory=namedtuple_row)
    try:
        return cursor.execute(statement.sql, params, prepare=prepare)
    except psycopg.Error as exc:
        if not db.is_prepared_statement_error(exc):
            cursor.close()
            raise
        conn.prepare_threshold = None
        if stopped is not None:
            stopped(exc)
        if not conn.autocommit:
            cursor.close()
            raise
    try:
        return cursor.execute(statement.sql, params, prepare=False)
    except BaseException:
        cursor.close()
        raise

