"""docker/entrypoint.sh, run directly against the test server: it waits (bounded, with a clear
message), migrates an empty database, then execs the given command (default: a shell)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = str(ROOT / "docker" / "entrypoint.sh")


def _plain(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    return (u.set(database=database) if database else u).render_as_string(hide_password=False)


@pytest.fixture
def empty_db(pg_server: str) -> Iterator[str]:
    """A brand-new database with no schema at all (not a clone of the migrated template)."""
    name = f"qt_entrypoint_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(_plain(pg_server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _plain(pg_server, name)
    with psycopg.connect(_plain(pg_server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "PGHOST", "PGPORT", "PGDATABASE")}
    env.update(QUEUECTL_DATABASE_URL=url, QUEUECTL_HOME=str(tmp_path / "home"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", **extra)
    return env


def test_migrates_an_empty_database_then_runs_the_command(empty_db: str, tmp_path: Path) -> None:
    proc = subprocess.run([ENTRYPOINT, "queuectl", "status", "--json"], capture_output=True,
                          text=True, env=_env(empty_db, tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total"] == 0  # migration messages stay off stdout
    assert "revision" in proc.stderr
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()


def test_execs_the_command_in_its_own_process(empty_db: str, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [ENTRYPOINT, sys.executable, "-c", "import os; print(os.getpid())"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(empty_db, tmp_path))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert int(out) == proc.pid  # exec: signals reach the command, not a wrapper shell


def test_default_command_is_a_shell(empty_db: str, tmp_path: Path) -> None:
    proc = subprocess.run([ENTRYPOINT], input="echo shell-here:$0\n", capture_output=True,
                          text=True, env=_env(empty_db, tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "shell-here:bash" in proc.stdout


def test_gives_up_on_an_unreachable_database_with_a_clear_message(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:9/queuectl"  # discard port: nothing listens
    started = time.monotonic()
    proc = subprocess.run([ENTRYPOINT, "echo", "must-not-run"], capture_output=True, text=True,
                          env=_env(url, tmp_path, QUEUECTL_DB_WAIT_TIMEOUT="2"), timeout=60)
    assert proc.returncode != 0
    assert "must-not-run" not in proc.stdout
    assert "did not accept connections within 2s" in proc.stderr
    assert "127.0.0.1:9/queuectl" in proc.stderr
    assert time.monotonic() - started < 30
