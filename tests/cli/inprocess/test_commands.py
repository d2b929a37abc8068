"""The commands in process, on the module's database: output formats, errors, exit codes.
(Moved from tests/cli/test_commands.py, which keeps what needs workers or the real process.)"""

import json
import os

import pytest
import sqlalchemy as sa

from tests.cli.checks import one_error_line, snapshot


def test_enqueue_prints_one_line_per_job(clean, cli):
    result = cli("enqueue", '{"command": "echo hi", "id": "e1"}')
    assert (result.returncode, result.stdout) == (0, "Job e1 enqueued\n")
    result = cli("enqueue", "-", input='[{"command": "a", "id": "e2"}, {"command": "b"}]')
    lines = result.stdout.splitlines()
    assert lines[0] == "Job e2 enqueued" and len(lines) == 2
    assert lines[1].startswith("Job ") and lines[1].endswith(" enqueued")


def test_enqueue_json_output(clean, cli):
    job = json.loads(cli("enqueue", "--json", json.dumps({
        "command": "echo hi", "id": "j1", "priority": 4, "timeout": 2500, "tags": ["x"],
        "run_at": "2031-05-06T07:08:09"})).stdout)
    for field in ("id", "command", "state", "attempts", "max_retries", "priority", "run_at",
                  "timeout", "exit_code", "error", "output", "created_at", "started_at",
                  "finished_at", "duration"):
        assert field in job
    assert (job["state"], job["priority"], job["timeout"], job["max_retries"]) == \
        ("pending", 4, 2500, 3)
    assert job["run_at"] == "2031-05-06T07:08:09+00:00"


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ('{"command": "x", "retries": 2}', "unknown field 'retries'"),
        ('{"command": 42}', "'command' must be a string"),
        ('{"command": "x", "max_retries": -2}', "'max_retries' must not be negative"),
        ('{"command": "x", "timeout": -1}', "'timeout'"),
        ('{"command": "x", "run_at": "31/12/2030"}', "'run_at'"),
        ('{"command": ""}', "'command' must not be empty"),
        ('[{"command": "ok"}, {"nope": 1}]', "job #2"),
        ("{not json", "invalid JSON"),
    ],
)
def test_bad_enqueue_changes_nothing(clean, cli, payload, needle):
    before = snapshot(clean)
    line = one_error_line(cli("enqueue", payload), 2)
    assert needle in line
    assert snapshot(clean) == before


def test_duplicate_id_exit_1_and_existing_job_untouched(clean, cli):
    cli("enqueue", '{"command": "original", "id": "dup"}')
    before = snapshot(clean)
    line = one_error_line(cli("enqueue", '[{"command": "x", "id": "fresh"},'
                                         ' {"command": "y", "id": "dup"}]'), 1)
    assert "'dup' already exists" in line
    assert snapshot(clean) == before


def test_list_show_and_prefixes(clean, cli):
    cli("enqueue", '[{"command": "echo a", "id": "d4e5f6a7-1"}, {"command": "echo b", '
                   '"id": "d4e5f6a7-2", "tags": ["nightly"]}, {"command": "c", "id": "zz"}]')
    table = cli("list").stdout
    assert table.splitlines()[0].split() == ["ID", "STATE", "QUEUE", "COMMAND", "RUN",
                                             "PRIORITY", "RUN_AT", "UPDATED"]
    assert all(i in table for i in ("d4e5f6a7-1", "d4e5f6a7-2", "zz"))
    assert [j["id"] for j in json.loads(cli("list", "--state", "PENDING", "--limit", "2",
                                            "--json").stdout)] == ["zz", "d4e5f6a7-2"]
    assert [j["id"] for j in json.loads(cli("list", "--tag", "nightly", "--json").stdout)] \
        == ["d4e5f6a7-2"]
    assert json.loads(cli("list", "--state", "Completed", "--json").stdout) == []
    shown = cli("show", "zz").stdout
    assert "command:" in shown and "state:" in shown
    assert "runs:       no run yet (at most 4); max_retries 3" in shown
    assert json.loads(cli("show", "d4e5f6a7-2", "--json").stdout)["command"] == "echo b"
    line = one_error_line(cli("show", "d4e5"), 2)
    assert "d4e5f6a7-1" in line and "d4e5f6a7-2" in line
    assert "no job" in one_error_line(cli("show", "nope"), 1)
    assert "unknown state" in one_error_line(cli("list", "--state", "sleeping"), 2)


def test_status_table_and_json(clean, cli):
    cli("enqueue", '[{"command": "a"}, {"command": "b"}, {"command": "c"}]')
    human = cli("status").stdout
    for state in ("PENDING", "PROCESSING", "COMPLETED", "FAILED", "DEAD", "TOTAL"):
        assert state in human
    assert "100.0%" in human
    data = json.loads(cli("status", "--json").stdout)
    assert data["counts"] == {"pending": 3, "processing": 0, "completed": 0, "failed": 0,
                              "dead": 0, "cancelled": 0, "held": 0, "waiting": 0}
    assert data["total"] == 3 and data["avg_duration"] is None and data["workers"] == []


def test_config_commands(clean, cli):
    assert cli("config", "set", "backoff-base", "3").stdout == "backoff_base = 3\n"
    assert cli("config", "get", "backoff_base").stdout == "backoff_base = 3\n"
    assert cli("config", "set", "job_timeout", "2s").stdout == "job_timeout = 2s\n"
    assert cli("config", "set", "job_timeout", "1500ms").stdout == "job_timeout = 1500ms\n"
    assert cli("config", "set", "retention", "604800").stdout == "retention = 7d\n"
    listing = cli("config", "list").stdout.splitlines()
    rows = {line.split()[0]: line.split()[1:3] for line in listing}
    assert rows["retention"] == ["7d", "7d"] and rows["job_timeout"] == ["1500ms", "none"]
    values = json.loads(cli("config", "list", "--json").stdout)
    assert values["backoff_base"] == 3 and values["max_retries"] == 3
    assert values["job_timeout"] == 1.5 and values["retention"] == 604800  # seconds, all
    assert values["poll_interval"] == 1
    missing = cli("config", "get", "colour")
    assert missing.stdout == ""
    assert one_error_line(missing, 2) == one_error_line(cli("config", "set", "colour", "x"), 2)
    assert "unknown config key 'colour'" in one_error_line(missing, 2)
    before = snapshot(clean)
    for args, needle in [(("max_retries", "-1"), "between 0 and 1000000"),
                         (("max_retries", "lots"), "whole number"),
                         (("poll_interval", "0"), "between 10ms and 1h"),
                         (("colour", "blue"), "unknown config key"),
                         (("data-dir", "/srv/q"), "QUEUECTL_HOME")]:
        assert needle in one_error_line(cli("config", "set", *args), 2)
    assert snapshot(clean) == before


def test_new_jobs_take_max_retries_from_config(clean, cli):
    cli("config", "set", "max_retries", "7")
    job = json.loads(cli("enqueue", "--json", '{"command": "x"}').stdout)
    assert job["max_retries"] == 7


def test_dlq_commands_on_non_dead_jobs(clean, cli):
    cli("enqueue", '{"command": "x", "id": "alive"}')
    assert "not dead" in one_error_line(cli("dlq", "retry", "alive"), 1)
    assert cli("dlq", "retry", "--all").stdout == "0 dead jobs moved back to pending\n"
    assert cli("dlq", "list", "--json").stdout.strip() == "[]"


def test_unreachable_database_is_one_line(cli):
    result = cli("status", extra_env={"QUEUECTL_DATABASE_URL":
                                      "postgresql://postgres@127.0.0.1:1/queuectl"})
    line = one_error_line(result, 2)
    assert "127.0.0.1:1" in line and "QUEUECTL_DATABASE_URL" in line
    line = one_error_line(cli("--database-url", "mysql://x@y/z", "list"), 2)
    assert "postgresql://" in line


def test_usage_errors_are_one_line(cli):
    for args in (("nosuch",), ("show",), ("list", "--limit", "0"), ("dlq", "retry")):
        one_error_line(cli(*args), 2)


def test_migrate_and_auto_migrate_on_a_new_database(pg_server, cli):
    from sqlalchemy.engine import make_url

    from tests.conftest import drop_database

    url = make_url(pg_server).set(database=f"qt_fresh_{os.getpid()}").render_as_string(False)
    try:
        off = cli("status", extra_env={"QUEUECTL_DATABASE_URL": url,
                                       "QUEUECTL_AUTO_MIGRATE": "0"})
        assert off.returncode != 0 and "Traceback" not in off.stderr
        result = cli("status", "--json", extra_env={"QUEUECTL_DATABASE_URL": url})
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["total"] == 0
        again = cli("migrate", extra_env={"QUEUECTL_DATABASE_URL": url})
        assert "latest" in again.stdout
    finally:
        drop_database(pg_server, url)


def test_prune_deletes_only_old_finished_jobs(clean, cli):
    cli("enqueue", '[{"command": "a", "id": "old-done"}, {"command": "b", "id": "old-dead"},'
                   ' {"command": "c", "id": "recent"}, {"command": "d", "id": "waiting"}]')
    with clean.begin() as conn:
        conn.execute(sa.text(
            "UPDATE jobs SET state = CASE id WHEN 'old-dead' THEN 'dead' ELSE 'completed' END,"
            " finished_at = now() - CASE WHEN id LIKE 'old%' THEN interval '2 days'"
            " ELSE interval '1 minute' END WHERE id <> 'waiting'"))
        conn.execute(sa.text(
            "INSERT INTO metrics (job_id, attempt, outcome, finished_at) VALUES"
            " ('old-done', 1, 'completed', now() - interval '2 days'),"
            " ('recent', 1, 'completed', now())"))
    result = cli("prune", "--older-than", "1d")
    assert result.stdout == "Pruned 2 finished job(s) and 1 metric row(s)\n"
    left = sorted(j["id"] for j in json.loads(cli("list", "--json").stdout))
    assert left == ["recent", "waiting"]
    assert "duration" in one_error_line(cli("prune", "--older-than", "soon"), 2)
