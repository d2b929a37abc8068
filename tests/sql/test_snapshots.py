"""Every statement of the store's catalogue (`queuectl.store.statements`), every variant,
rendered into `tests/sql/<name>.sql`: a change to SQL shows up as a diff in review.

The test fails when a rendered text differs from its committed snapshot, when a statement has
no snapshot, and when a snapshot names no statement. After a deliberate change, rewrite them
with

    QUEUECTL_UPDATE_SQL_SNAPSHOTS=1 python -m pytest tests/sql

and commit the diff with the change. No database needed (the fast lane runs it); the
statements are also prepared against a real server in
`tests/integration/test_sql_catalogue.py`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from queuectl.store import statements

HERE = Path(__file__).resolve().parent
UPDATE = os.environ.get("QUEUECTL_UPDATE_SQL_SNAPSHOTS") == "1"
CATALOGUE = list(statements.every())


def render(statement: statements.Statement) -> str:
    """The snapshot's text: a header naming the statement, then its SQL without the common
    indentation and trailing blanks."""
    lines = [ln.rstrip() for ln in statement.sql.strip("\n").splitlines()]
    indents = [len(ln) - len(ln.lstrip()) for ln in lines[1:] if ln.strip()]
    first = lines[0].lstrip()
    common = min(indents, default=0)
    body = [first] + [ln[common:] for ln in lines[1:]]
    return f"-- {statement.name}\n" + "\n".join(body).strip() + "\n"


def test_names_are_unique_snake_case_and_noun_first():
    names = [s.name for s in CATALOGUE]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)+", name), name


@pytest.mark.parametrize("statement", CATALOGUE, ids=[s.name for s in CATALOGUE])
def test_statement_matches_its_snapshot(statement):
    path = HERE / f"{statement.name}.sql"
    text = render(statement)
    if UPDATE:
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        return
    assert path.exists(), f"no snapshot {path.name}: run with QUEUECTL_UPDATE_SQL_SNAPSHOTS=1"
    assert path.read_text() == text, (
        f"{statement.name} changed: review, then QUEUECTL_UPDATE_SQL_SNAPSHOTS=1 to rewrite")


def test_every_snapshot_names_a_statement():
    names = {s.name for s in CATALOGUE}
    stale = sorted(p.name for p in HERE.glob("*.sql") if p.stem not in names)
    if UPDATE:
        for name in stale:
            (HERE / name).unlink()
        return
    assert not stale, f"snapshots of statements that are gone: {stale}"
