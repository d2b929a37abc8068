"""Habits of Unix tools and of other queue CLIs that need the real `queuectl` process: which
modules a command loads, a missing database created, progress bars on a terminal, and `logs`
and `metrics` after a real worker ran jobs. (Help, completion, times, `status`, `doctor` and
config habits run in process: tests/cli/inprocess/test_help.py and test_habits.py.)"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading

import pytest

from tests.cli.checks import host_port, one_error_line
from tests.conftest import QUEUECTL, ROOT, drop_database, wait_for


def test_missing_database_is_created_and_announced(cli, env, db_url, pg_server):
    url = db_url.rsplit("/", 1)[0] + "/queuectl_created_by_test"
    drop_database(pg_server, url)
    try:
        code = ("import sys\nfrom queuectl import cli\n"
                f"sys.argv = ['queuectl', '--database-url', {url!r}, 'status']\n"
                "try:\n    cli.main()\nexcept SystemExit as exc:\n    assert not exc.code\n")
        assert "alembic" in _modules_after(code, env)  # an empty database is migrated
        result = cli("--database-url", url, "status")
        assert (result.returncode, result.stderr) == (0, "")  # announced only the first time
        drop_database(pg_server, url)
        result = cli("--database-url", url, "status")
        assert result.returncode == 0, result.stderr
        assert result.stderr == (f"created database queuectl_created_by_test on "
                                 f"{host_port(db_url)}\n")
    finally:
        drop_database(pg_server, url)


def test_no_database_is_created_on_a_server_nobody_named(env, db_url, pg_server, tmp_path):
    from sqlalchemy.engine import make_url

    url = make_url(db_url).set(database="queuectl_not_created_by_test")
    plain = url.render_as_string(hide_password=False)
    drop_database(pg_server, plain)
    libpq = {k: v for k, v in env.items() if k != "QUEUECTL_DATABASE_URL"}
    libpq |= {"XDG_CONFIG_HOME": str(tmp_path / "no-client-file"), "PGHOST": url.host,
              "PGPORT": str(url.port or 5432), "PGUSER": url.username or "",
              "PGPASSWORD": url.password or "", "PGDATABASE": url.database}

    def run(*args):
        return subprocess.run([*QUEUECTL, *args], env=libpq, capture_output=True, text=True,
                              timeout=60, cwd=ROOT)

    try:
        for args in (("status",), ("enqueue", '{"command": "true"}'), ("migrate",)):
            result = run(*args)
            line = one_error_line(result, 1)
            assert ("database 'queuectl_not_created_by_test' does not exist on "
                    f"{host_port(db_url)} (libpq defaults") in line
            assert "queuectl migrate --create-database" in line
            assert not _exists(pg_server, url.database)
        result = run("migrate", "--create-database")
        assert result.returncode == 0, result.stderr
        assert result.stderr == (f"created database queuectl_not_created_by_test on "
                                 f"{host_port(db_url)}\n")
        assert run("status").returncode == 0
    finally:
        drop_database(pg_server, plain)


def _exists(pg_server: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(pg_server, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is not None


def test_logs_prints_stored_output(clean, cli, workers, engine):
    cli("enqueue", '[{"command": "printf \'a\\\\nb\\\\nc\\\\n\'; echo err >&2", "id": "lg"},'
                   ' {"command": "true", "id": "quiet"}]')
    workers.start(1)
    wait_for(lambda: cli("show", "--json", "quiet").stdout.count('"completed"'))
    wait_for(lambda: '"completed"' in cli("show", "--json", "lg").stdout)
    result = cli("logs", "lg")
    assert (result.returncode, result.stdout) == (0, "a\nb\nc\nerr\n"), result.stderr
    assert cli("logs", "lg", "--tail", "2").stdout == "c\nerr\n"
    quiet = cli("logs", "quiet")
    assert (quiet.returncode, quiet.stdout) == (0, "")
    assert "no output" in quiet.stderr
    missing = cli("logs", "no-such-job")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == "error: no job with id or id prefix 'no-such-job'\n"


def test_metrics_table_and_json(clean, cli, workers):
    cli("enqueue", '[{"command": "true"}, {"command": "true"}, {"command": "exit 3",'
                   ' "max_retries": 0}]')
    workers.start(1, "--concurrency", "2")
    wait_for(lambda: json.loads(cli("metrics", "--json").stdout)["runs"]["dead"] == 1
             and json.loads(cli("metrics", "--json").stdout)["runs"]["completed"] == 2)
    data = json.loads(cli("metrics", "--json").stdout)
    assert data["counts"]["completed"] == 2 and data["total"] == 3
    assert data["p95_duration"] is not None and data["avg_duration"] is not None
    assert data["throughput_per_minute"] == pytest.approx(2 / 60, abs=1e-3)
    table = cli("metrics").stdout
    for label in ("jobs completed", "runs completed (last 60 min)", "throughput",
                  "avg duration", "p95 duration"):
        assert label in table


def _modules_after(code: str, env) -> set[str]:
    """Top-level package names (and sqlalchemy.orm) imported by running `code`."""
    probe = (code + "\nimport sys, json\n"
             "names = {m.split('.')[0] for m in sys.modules}\n"
             "names |= {m for m in sys.modules if m.startswith('sqlalchemy.orm')}\n"
             "print(json.dumps(sorted(names)))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library(env):
    loaded = _modules_after("import queuectl.cli", env)
    for heavy in ("alembic", "sqlalchemy", "sqlalchemy.orm", "fastapi", "psycopg", "starlette",
                  "uvicorn", "tabulate", "rich"):
        assert heavy not in loaded, heavy


@pytest.mark.parametrize("argv", [["enqueue", '{"command": "true"}'], ["status"]],
                         ids=["enqueue", "status"])
def test_quick_commands_skip_sqlalchemy_and_alembic(clean, env, argv):
    code = ("import sys\nfrom queuectl import cli\n"
            f"sys.argv = ['queuectl', *{argv!r}]\n"
            "try:\n    cli.main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n")
    loaded = _modules_after(code, env)
    assert "psycopg" in loaded
    for heavy in ("alembic", "sqlalchemy", "fastapi", "pydantic"):
        assert heavy not in loaded, heavy


def test_common_commands_skip_the_orm_alembic_and_fastapi(clean, env):
    for argv in (["list"], ["show", "x"], ["logs", "x"], ["config", "get", "max_retries"]):
        code = ("import sys\nfrom queuectl import cli\n"
                f"sys.argv = ['queuectl', *{argv!r}]\n"
                "try:\n    cli.main()\nexcept SystemExit:\n    pass\n")
        loaded = _modules_after(code, env)
        for heavy in ("alembic", "sqlalchemy.orm", "fastapi"):
            assert heavy not in loaded, (argv, heavy)


def _stderr_on_a_terminal(argv: list[str], env, stdin: str = "") -> tuple[int, str, str]:
    """Run queuectl with stderr on a pseudo-terminal; returns (code, stdout, terminal text)."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run([*QUEUECTL, *argv], input=stdin, capture_output=False,
                              stdout=subprocess.PIPE, stderr=slave, text=True, env=env,
                              cwd=ROOT, timeout=120)
    finally:
        os.close(slave)
    reader.join(10)
    os.close(master)
    return proc.returncode, proc.stdout, b"".join(chunks).decode(errors="replace")


def test_progress_bars_only_on_a_terminal(clean, cli, env):
    many = json.dumps([{"command": "true"} for _ in range(1500)])
    code, out, terminal = _stderr_on_a_terminal(["enqueue", "-"], env, many)
    assert code == 0 and out.count("enqueued") == 1500
    assert "enqueueing" in terminal and "1500/1500" in terminal
    code, _, terminal = _stderr_on_a_terminal(["enqueue", "-"], env, json.dumps(
        [{"command": "true"} for _ in range(1000)]))
    assert code == 0 and "enqueueing" not in terminal  # 1,000 or fewer: no bar
    code, _, terminal = _stderr_on_a_terminal(["prune", "--older-than", "1d"], env)
    assert code == 0 and "pruning" in terminal
    piped = cli("enqueue", "-", input=many)
    assert piped.returncode == 0 and piped.stderr == ""  # not a terminal: nothing
