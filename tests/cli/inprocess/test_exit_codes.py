"""Exit codes that need no worker, in process on the shared database: 0 when the command did
what was asked, 1 when a job is not in a state that allows it (one line, nothing changed), 2
when `wait` times out; the tables and plain lines a script reads."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from queuectl.db import migrate
from tests.cli.checks import one_error_line, snapshot


@pytest.fixture
def three(clean, cli):
    """Jobs `ok` (completed), `bad` (dead) and `p` (pending), finished by hand: no worker."""
    assert cli("enqueue", '[{"command": "true", "id": "ok"}, {"command": "true", "id": "bad"},'
                          ' {"command": "true", "id": "p"}]').returncode == 0
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET state = CASE id WHEN 'ok' THEN 'completed' "
                             "ELSE 'dead' END, finished_at = now() WHERE id IN ('ok', 'bad')"))
    return clean


def test_wait_exits_0_when_all_completed_1_otherwise_2_on_timeout(three, cli):
    done = cli("wait", "ok")
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok completed\n", "")
    mixed = cli("wait", "ok", "bad")
    assert (mixed.returncode, mixed.stdout) == (1, "ok completed\nbad dead\n")
    late = cli("wait", "p", "--timeout", "0.2")
    assert (late.returncode, late.stdout) == (2, "")
    assert late.stderr == "error: timed out after 0.2s: 1 job of 1 not finished yet: p (pending)\n"


def test_refused_state_changes_exit_1_and_change_nothing(three, cli):
    before = snapshot(three)
    assert "it is pending (only processing jobs)" in one_error_line(cli("signal", "p", "HUP"), 1)
    assert "cannot retry job p: it is pending" in one_error_line(cli("retry", "p"), 1)
    assert "no job with id or id prefix 'nope'" in one_error_line(cli("cancel", "nope"), 1)
    assert "no job with id or id prefix 'nope'" in one_error_line(cli("logs", "nope"), 1)
    assert snapshot(three) == before


def test_state_changes_that_apply_exit_0_with_one_line_per_job(three, cli):
    assert cli("pause", "p").stdout == "Job p: held\n"
    assert cli("resume", "p").stdout == "Job p: pending again\n"
    assert cli("retry", "ok").stdout == "Job ok: pending again (was completed)\n"
    assert cli("cancel", "p").stdout == "Job p: cancelled\n"
    again = one_error_line(cli("cancel", "p"), 1)
    assert "cannot cancel job p: it is cancelled" in again
    assert cli("dlq", "retry", "bad").stdout == "Job bad moved back to pending\n"
    states = {j["id"]: j["state"] for j in json.loads(cli("list", "--json").stdout)}
    assert states == {"ok": "pending", "bad": "pending", "p": "cancelled"}


def test_fleet_claiming_pause_and_resume(clean, cli):
    paused = cli("pause", "--all")
    assert (paused.returncode, paused.stdout) == (
        0, "Claiming paused across the fleet; running jobs go on "
           "(`queuectl resume --all` restarts it)\n")
    assert cli("resume", "--all").stdout == "Claiming resumed across the fleet\n"


def test_logs_of_a_job_that_has_not_run(three, cli):
    result = cli("logs", "p")
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "(job p has not run yet: no output)\n"


def test_dlq_list_table_and_json(three, cli):
    table = cli("dlq", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "COMMAND", "RUN", "LAST", "ERROR", "DIED"]
    assert [line.split()[0] for line in table[2:]] == ["bad"]
    assert [j["id"] for j in json.loads(cli("dlq", "list", "--json").stdout)] == ["bad"]


def test_metrics_and_migrate_without_a_worker(three, cli):
    data = json.loads(cli("metrics", "--json").stdout)
    assert (data["counts"]["pending"], data["counts"]["dead"], data["total"]) == (1, 1, 3)
    assert re.search(r"^jobs completed +1$", cli("metrics").stdout, re.M)
    result = cli("migrate")
    assert (result.returncode, result.stdout) == (
        0, f"Database schema is at revision {migrate.SCHEMA_HEAD} (latest)\n")
