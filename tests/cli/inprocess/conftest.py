"""In-process CLI tests: typer's CliRunner on the real app, through the same error boundary as
the `queuectl` command (`QueuectlGroup.main`), without a process start-up per invocation.

`cli(*args, input=..., extra_env=...)` returns a `subprocess.CompletedProcess` (returncode,
stdout and stderr apart), like the subprocess `cli` of tests/conftest.py, so a test reads the
same in either folder. A test that asks for a database (`db_url`, `engine` or `clean`) runs its
commands on the one database these tests share (`db_url` below); any other test has none, and
a command that tries to reach the default database fails the test instead of a server
answering by chance.

One process would carry state from one invocation to the next that a real `queuectl` starts
without; each call resets it: the environment and the local time zone (`TZ`, `time.tzset`),
the root logger's handlers (pytest's, which would swallow the warnings a real process prints on
stderr), the store's warn-once memory, and the engines a command opened (disposed after it).
A Python exception escaping the boundary is raised in the test: in a real process it would
have been a traceback. Nothing here may start a worker or a `queuectl` process: a guard fails
the test that tries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.testing
from typer.testing import CliRunner

from queuectl import cli as queuectl_cli
from queuectl import db, settings
from tests.cli.inprocess.guards import StartedAProcess, TouchedTheDatabase
from tests.conftest import create_database, drop_database

#: What QUEUECTL_DATABASE_URL holds in a test without a database: unreachable, and refused by
#: the guard below before anything dials it.
NO_DATABASE = "postgresql://no-database-in-this-test@127.0.0.1:1/none"
#: Variables a test's commands must not inherit from the developer's shell (as tests/conftest.py
#: `env` drops them for the subprocess `cli`).
_DROPPED = ("DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE")


class Invocation(subprocess.CompletedProcess[str]):
    """One in-process run: what a subprocess run would give, plus the argv it ran."""


def _resolve_guarded(real: Callable[..., settings.DatabaseTarget]
                     ) -> Callable[..., settings.DatabaseTarget]:
    def resolve(cli_url: str | None = None,
                context: str | None = None) -> settings.DatabaseTarget:
        if (not cli_url and not context
                and os.environ.get("QUEUECTL_DATABASE_URL") == NO_DATABASE):
            raise TouchedTheDatabase(
                "this command needs a database: give the test `clean` (or `db_url`)")
        return real(cli_url, context)

    return resolve


@pytest.fixture(autouse=True)
def _no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a test whose command would start a worker (in process or not) or `queuectl`."""
    real_init = subprocess.Popen.__init__

    def popen(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        words = [str(a) for a in (args if isinstance(args, (list, tuple)) else [args])]
        if any("queuectl" in w for w in words):
            self.args, self.returncode = args, None  # what Popen's repr reads
            raise StartedAProcess(f"an in-process test started {words}")
        real_init(self, args, *rest, **kwargs)

    def no_worker(*_args: Any, **_kwargs: Any) -> None:
        raise StartedAProcess("an in-process test ran a worker")

    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    monkeypatch.setattr("queuectl.worker.process.Worker.run", no_worker)


@pytest.fixture(scope="session")
def db_url(pg_server: str, template_db: str) -> Iterator[str]:
    """One database for every in-process test (tests/conftest.py makes one per module): a
    clone costs seconds on a loaded machine, and these tests isolate themselves with `clean`,
    which empties every table."""
    url = create_database(pg_server, template_db, "cli_inprocess")
    yield url
    drop_database(pg_server, url)


@pytest.fixture(scope="session")
def _command() -> Any:
    """The app's click command, built once: typer's CliRunner would rebuild the whole tree
    (every command's signature and type hints) on each invocation, a tenth of a second that
    `queuectl` spends once per process."""
    return typer.main.get_command(queuectl_cli.app)


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        _command: Any) -> Callable[..., Invocation]:
    """Run `queuectl ARGS...` in this process; returns what a subprocess run would."""
    monkeypatch.setattr(typer.testing, "_get_command", lambda app: _command)
    url = (request.getfixturevalue("db_url") if "db_url" in request.fixturenames
           else NO_DATABASE)
    base: dict[str, str | None] = {k: None for k in _DROPPED}
    base |= {"QUEUECTL_DATABASE_URL": url, "QUEUECTL_HOME": str(tmp_path / "home")}
    runner = CliRunner()
    app = queuectl_cli.app

    def run(*args: str, input: str | None = None,
            extra_env: dict[str, str] | None = None) -> Invocation:
        with _fresh_process({**base, **(extra_env or {})}):
            result = runner.invoke(app, list(args), input=input, catch_exceptions=False,
                                   prog_name="queuectl")
        return Invocation(["queuectl", *args], result.exit_code, result.stdout, result.stderr)

    return run


class _Tracked:
    """Wraps `db.create_engine` so that the engines one invocation opened are disposed."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.engines: list[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        engine = self.real(*args, **kwargs)
        self.engines.append(engine)
        return engine


@contextlib.contextmanager
def _fresh_process(env: dict[str, str | None]) -> Iterator[list[Any]]:
    """What a new `queuectl` process starts with, for the length of one invocation; yields
    the list of engines the invocation opens."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            if value is None:
                patch.delenv(key, raising=False)
            else:
                patch.setenv(key, value)
        time.tzset()  # astimezone() reads the C library's zone, which only tzset takes from TZ
        patch.setattr(settings, "resolve_database",
                      _resolve_guarded(settings.resolve_database))
        tracked = _Tracked(db.create_engine)
        patch.setattr(db, "create_engine", tracked)
        # A fresh process has no root handlers: queuectl's warnings reach stderr through
        # logging's last resort, which pytest's capture handlers would otherwise replace.
        patch.setattr(logging.getLogger(), "handlers", [])
        sql = sys.modules.get("queuectl.store.sql")
        if sql is not None and hasattr(sql, "_warned"):  # config_value warns once per process
            patch.setattr(sql, "_warned", set())
        try:
            yield tracked.engines
        finally:
            for engine in tracked.engines:
                engine.dispose()
    time.tzset()
