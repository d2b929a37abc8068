"""Nothing queuectl sends sets anything for the session: behind a transaction pooler a
session setting stays on the server connection and reaches whichever client gets it next.
Settings are transaction-local (`set_config(..., true)`, `SET LOCAL`) or per function."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from queuectl.store import statements

ROOT = Path(__file__).resolve().parents[2]
# `SET name ...` / `SET SESSION ...` / `RESET ...` as a statement of its own (an UPDATE's SET
# clause and a function's `SET jit = off` follow other words), and set_config with is_local
# false (or anything but a literal true).
_SESSION_SET = re.compile(r"^\s*(SET(?!\s+LOCAL\b)\s+\w|RESET\s)", re.IGNORECASE)
_SET_CONFIG_CALL = re.compile(r"set_config\s*\((?:[^()]|\([^()]*\))*\)", re.IGNORECASE)
_LOCAL = re.compile(r",\s*true\s*\)$", re.IGNORECASE)


def session_set_configs(text: str) -> list[str]:
    """The set_config calls in `text` whose is_local is not a literal true."""
    return [m.group(0) for m in _SET_CONFIG_CALL.finditer(text) if not _LOCAL.search(m.group(0))]


@pytest.mark.parametrize("statement", list(statements.every()), ids=lambda s: s.name)
def test_no_statement_of_the_catalogue_sets_a_session_setting(statement):
    for part in statement.sql.split(";"):
        assert not _SESSION_SET.search(part), part
    assert not session_set_configs(statement.sql)


def test_no_source_file_calls_set_config_for_the_session():
    # The catalogue is checked above; this also covers the migrations' functions and any SQL
    # that might be written outside the catalogue (the SQL function: a quoted setting name).
    found = []
    for path in sorted([*(ROOT / "queuectl").rglob("*.py"),
                        *(ROOT / "alembic").rglob("*.py")]):
        found += [f"{path.relative_to(ROOT)}: {call}"
                  for call in session_set_configs(path.read_text())
                  if re.match(r"set_config\s*\(\s*'", call, re.IGNORECASE)]
    assert not found, found


def test_the_checks_catch_session_settings():  # the patterns above are not blind
    assert session_set_configs("SELECT set_config('statement_timeout', %(ms)s, false)")
    assert not session_set_configs("SELECT set_config('statement_timeout', %(ms)s, true)")
    assert _SESSION_SET.search("SET statement_timeout = 500")
    assert not _SESSION_SET.search("SET LOCAL statement_timeout = 500")
