"""Habits of Unix tools and of other queue CLIs, in process: completion, times, empty lists,
`status`'s database line, `doctor`, config aliases and durations. (Moved from
tests/cli/test_conventions.py, which keeps what needs the real process: module loading, a
terminal, workers.)"""

from __future__ import annotations

import json
import re

from sqlalchemy.engine import make_url

from queuectl.db import migrate
from tests.cli.checks import host_port


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


def test_status_ends_with_the_database_never_a_password(clean, cli, db_url):
    url = make_url(db_url)
    secret = url.password or "s3cret-pw"  # a trust server takes any password
    secret_url = url.set(password=secret).render_as_string(hide_password=False)
    result = cli("--database-url", secret_url, "status")
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    hp = host_port(db_url)
    assert last == f"Database: {hp}/{url.database} (connected to {hp})", last
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


def test_config_habits(clean, cli):
    assert cli("config", "show").stdout == cli("config", "list").stdout
    assert cli("config", "show", "--json").stdout == cli("config", "list", "--json").stdout
    for key in ("default-max-retries", "default_max_retries"):
        assert cli("config", "set", key, "6").stdout == "max_retries = 6\n"
        assert cli("config", "get", key).stdout == "max_retries = 6\n"
    assert cli("config", "set", "job_timeout", "30").stdout == "job_timeout = 30s\n"
    assert cli("config", "set", "poll_interval", "2").stdout == "poll_interval = 2s\n"
    job = json.loads(cli("enqueue", "--json", '{"command": "true", "timeout": 30}').stdout)
    assert (job["timeout"], job["max_retries"]) == (30, 6)  # the job field stays in ms
