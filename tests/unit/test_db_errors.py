"""Which driver errors are outages (`DatabaseUnavailable`, ridden out with backoff) and which
are the server refusing a statement (`DatabaseError`, never retried as an outage)."""

import psycopg
import pytest
from psycopg import errors as pg

from queuectl import db, errors


@pytest.mark.parametrize("exc", [
    psycopg.OperationalError("connection failed: connection refused"),  # libpq: no SQLSTATE
    psycopg.OperationalError("the connection is closed"),
    pg.AdminShutdown("terminating connection due to administrator command"),
    pg.CannotConnectNow("the database system is starting up"),
    pg.TooManyConnections("sorry, too many clients already"),
    pg.ConnectionFailure("connection failure"),
])
def test_lost_or_refused_connections_are_outages(exc):
    assert db.is_disconnect(exc)
    assert isinstance(db.translate(None, exc), errors.DatabaseUnavailable)


@pytest.mark.parametrize(("exc", "transient"), [
    (pg.StatementTooComplex("stack depth limit exceeded"), False),  # 54001
    (pg.RaiseException("job b may not finish"), False),  # a trigger's RAISE
    (pg.UniqueViolation("duplicate key"), False),
    (pg.DeadlockDetected("deadlock detected"), True),
    (pg.LockNotAvailable("could not obtain lock"), True),
])
def test_statements_the_server_refused_are_not_outages(exc, transient):
    assert not db.is_disconnect(exc)
    err = db.translate(None, exc)
    assert type(err) is errors.DatabaseError and err.exit_code == 1
    assert err.sqlstate == exc.sqlstate and err.transient is transient
    assert str(err).startswith("database error at PostgreSQL: ")
