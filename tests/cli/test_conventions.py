"""Habits of Unix tools and of other queue CLIs, through the real `queuectl` entry point:
version, bare invocation, help text, completion, times, empty lists, `status`'s database line,
`doctor`, `metrics`, `logs`, config aliases and durations, and which modules a command loads."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading

import pytest
from sqlalchemy.engine import make_url

from queuectl import __version__
from queuectl.db import migrate
from tests.conftest import QUEUECTL, ROOT, drop_database, wait_for

COMMANDS = [["enqueue"], ["status"], ["list"], ["show"], ["logs"], ["metrics"], ["doctor"],
            ["migrate"], ["prune"], ["dashboard"], ["worker", "start"], ["worker", "stop"],
            ["dlq", "list"], ["dlq", "retry"], ["config", "set"], ["config", "get"],
            ["config", "list"], ["config", "show"], ["cancel"], ["signal"], ["pause"],
            ["resume"], ["retry"], ["wait"], ["queue", "list"], ["queue", "set"],
            ["queue", "pause"], ["queue", "resume"], ["cron", "add"], ["cron", "list"],
            ["cron", "remove"], ["cron", "pause"], ["cron", "resume"], ["cron", "run"]]


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(cli, flag):
    result = cli(flag)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"queuectl {__version__}\n", "")


def test_bare_command_prints_help_and_exits_0(cli):
    result = cli()
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("Usage: queuectl ") and "Commands:" in result.stdout


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_reads_like_a_unix_tool(cli, command):
    result = cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert not re.search(r"<(bool|str|int|float)", text), text
    assert "Example: queuectl " in text
    summary = text.split("\n\n")[1].strip()
    assert summary and "\n" not in summary, text


def test_help_names_arguments_plainly_and_lists_states(cli):
    assert "Usage: queuectl enqueue [OPTIONS] JSON" in cli("enqueue", "--help").stdout
    assert "Usage: queuectl show [OPTIONS] ID" in cli("show", "--help").stdout
    listing = " ".join(cli("list", "--help").stdout.split())
    assert "pending, processing, completed, failed, dead" in listing


def complete(cli, line: str) -> list[str]:
    """What bash completion offers for `line` (the last word is being completed)."""
    words = line.split(" ")
    result = cli(extra_env={"_QUEUECTL_COMPLETE": "complete_bash", "COMP_WORDS": line,
                            "COMP_CWORD": str(len(words) - 1)})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_completion_offers_values_not_files(clean, cli):
    assert complete(cli, "queuectl list --state p") == ["pending", "processing"]
    assert "max_retries" in complete(cli, "queuectl config get ma")
    assert "default_max_retries" in complete(cli, "queuectl config set def")
    cli("enqueue", '[{"command": "true", "id": "cmp-1"}, {"command": "true", "id": "cmp-2"},'
                   ' {"command": "true", "id": "other"}]')
    assert complete(cli, "queuectl show cmp") == ["cmp-2", "cmp-1"]
    assert "other" in complete(cli, "queuectl logs ")
    script = cli("--show-completion", "bash",
                 extra_env={"_QUEUECTL_COMPLETE": ""}).stdout or ""
    if script:  # typer may refuse without a detectable shell; the template is what matters
        assert "-o default" not in script


def test_people_read_local_times_scripts_read_utc(clean, cli):
    cli("enqueue", '{"command": "true", "id": "tz", "run_at": "2031-05-06T07:08:09Z"}')
    shown = cli("show", "tz", extra_env={"TZ": "Asia/Kolkata"}).stdout
    assert re.search(r"run_at:\s+2031-05-06 12:38:09 \+05:30", shown), shown
    listed = cli("list", extra_env={"TZ": "America/St_Johns"}).stdout
    assert "2031-05-06 04:38:09 -02:30" in listed, listed
    data = json.loads(cli("show", "--json", "tz", extra_env={"TZ": "Asia/Kolkata"}).stdout)
    assert data["run_at"] == "2031-05-06T07:08:09+00:00"


def test_empty_list_says_no_jobs(clean, cli):
    result = cli("list")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "no jobs\n")
    assert json.loads(cli("list", "--json").stdout) == []


def _host_port(db_url: str) -> str:
    url = make_url(db_url)
    return f"{url.host}:{url.port or 5432}"


def test_status_ends_with_the_database_never_a_password(clean, cli, db_url):
    url = make_url(db_url)
    secret = url.password or "s3cret-pw"  # a trust server takes any password
    secret_url = url.set(password=secret).render_as_string(hide_password=False)
    result = cli("--database-url", secret_url, "status")
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last == f"Database: {_host_port(db_url)}/{url.database}", last
    assert f":{secret}@" not in result.stdout + result.stderr
    status = json.loads(cli("--database-url", secret_url, "status", "--json").stdout)
    assert status["database"].endswith(f"/{url.database}")
    assert f":{secret}@" not in json.dumps(status)


def test_doctor_reports_source_server_schema_workers_and_clock(clean, cli):
    result = cli("doctor")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "URL from:     QUEUECTL_DATABASE_URL" in out
    assert re.search(r"server:\s+PostgreSQL \d+", out)
    assert f"schema:       revision {migrate.SCHEMA_HEAD} (latest)" in out
    assert "live workers: 0" in out
    assert re.search(r"clock:\s+server clock is \d+\.\d{3}s (ahead of|behind) this host", out)


def test_doctor_on_an_unreachable_server_says_where_then_fails(cli):
    result = cli("--database-url", "postgresql://postgres@127.0.0.1:1/x", "doctor")
    assert result.returncode == 2
    assert "database:     127.0.0.1:1/x" in result.stdout
    assert result.stderr.startswith("error: cannot connect to PostgreSQL at 127.0.0.1:1/x")


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
                                 f"{_host_port(db_url)}\n")
    finally:
        drop_database(pg_server, url)


def test_config_habits(clean, cli):
    assert cli("config", "show").stdout == cli("config", "list").stdout
    assert cli("config", "show", "--json").stdout == cli("config", "list", "--json").stdout
    for key in ("default-max-retries", "default_max_retries"):
        assert cli("config", "set", key, "6").stdout == "max_retries = 6\n"
        assert cli("config", "get", key).stdout == "max_retries = 6\n"
    assert cli("config", "set", "job_timeout", "30").stdout == "job_timeout = 30000ms\n"
    assert cli("config", "set", "poll_interval", "2").stdout == "poll_interval = 2s\n"
    job = json.loads(cli("enqueue", "--json", '{"command": "true", "timeout": 30}').stdout)
    assert (job["timeout"], job["max_retries"]) == (30, 6)  # the job field stays in ms


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
