"""LISTEN/NOTIFY: the wake-up channel. Enqueues, retries, put-backs and rescues NOTIFY it;
idle workers (or the one relay per host) wait on a `Listener`'s socket.

A `Listener` is a dedicated autocommit connection outside the engine's pool. Its methods
translate driver errors like every store function (a lost connection is
`errors.DatabaseUnavailable`); after one, close it and open another later."""

from __future__ import annotations

import psycopg
import sqlalchemy as sa

from queuectl import db
from queuectl.store import execute
from queuectl.store.statements import jobs as jobs_sql

__all__ = ["Listener", "open_listener"]


class Listener:
    """A connection LISTENing on the jobs channel. One thread uses it at a time."""

    def __init__(self, engine: sa.Engine, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        self._engine = engine
        self._conn = conn

    def fileno(self) -> int:
        """The socket to wait on (readable when a notification may have arrived)."""
        return self._conn.fileno()

    def payloads(self) -> list[str]:
        """The payloads of the notifications received so far, without blocking."""
        with db.translate_errors(self._engine):
            return [note.payload for note in self._conn.notifies(timeout=0)]

    def close(self) -> None:
        """Close the connection; never raises."""
        try:
            self._conn.close()
        except psycopg.Error:
            pass


def open_listener(engine: sa.Engine) -> Listener:
    """Open a `Listener` on `engine`'s database (`DatabaseUnavailable` when it is away)."""
    target = db.target_of(engine)
    with db.translate_errors(engine):
        conn = db.open_connection(target, application_name="queuectl-listen", autocommit=True)
        try:
            execute.execute(conn, jobs_sql.job_listen_wake)
        except psycopg.Error:
            conn.close()
            raise
    return Listener(engine, conn)
