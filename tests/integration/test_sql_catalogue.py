"""Every statement of the store's catalogue (every variant, as `tests/sql/` renders them)
parses, and names only tables and columns that exist: the server prepares each one (and
describes its parameters) in a migrated database, without running it."""

from __future__ import annotations

import re

import psycopg
import pytest

from queuectl.store import statements

CATALOGUE = list(statements.every())


def _numbered(sql: str) -> str:
    """`sql` with psycopg's `%(name)s` placeholders as the server's `$n` (one per name)."""
    names: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${names.setdefault(match.group(1), len(names) + 1)}"

    return re.sub(r"%\((\w+)\)s", number, sql).replace("%%", "%")


@pytest.fixture(scope="module")
def server(db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize("statement", CATALOGUE, ids=[s.name for s in CATALOGUE])
def test_the_server_prepares_the_statement(server, statement):
    pgconn = server.pgconn
    name = f"check_{statement.name}".encode()
    result = pgconn.prepare(name, _numbered(statement.sql).encode())
    assert result.status == psycopg.pq.ExecStatus.COMMAND_OK, \
        result.error_message.decode(errors="replace")
    try:
        assert pgconn.describe_prepared(name).status == psycopg.pq.ExecStatus.COMMAND_OK
    finally:
        server.execute(f"DEALLOCATE {name.decode()}")
