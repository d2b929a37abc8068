"""`queuectl cron` in process: add, list, run, pause, resume, remove; the
jobs carry the schedule's name in `show`, `--json` and `list --cron`; bad input is one line,
exit 2, nothing written; unknown names exit 1 like unknown job ids."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa


@pytest.fixture
def crons(clean: sa.Engine) -> sa.Engine:
    with clean.begin() as conn:
        conn.execute(sa.text("TRUNCATE cron"))
    return clean


def test_add_list_run_show_pause_resume_remove(crons, cli):
    added = cli("cron", "add", "backup", "30 2 * * *",
                '{"command": "echo backup", "tags": ["nightly"], "priority": 5}',
                "--tz", "Europe/Paris")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("Cron backup added: next run ")
    listed = json.loads(cli("cron", "list", "--json").stdout)
    assert [(c["name"], c["schedule"], c["zone"], c["paused"]) for c in listed] == \
        [("backup", "30 2 * * *", "Europe/Paris", False)]
    assert listed[0]["template"] == {"command": "echo backup", "tags": ["nightly"],
                                     "priority": 5}
    assert listed[0]["next_run"].endswith(("T01:30:00+00:00", "T00:30:00+00:00"))
    assert listed[0]["last_job_id"] is None

    ran = cli("cron", "run", "backup")
    assert ran.returncode == 0, ran.stderr
    job_id = ran.stdout.strip()
    job = json.loads(cli("show", job_id, "--json").stdout)
    assert (job["cron_name"], job["command"], job["priority"], job["tags"]) == \
        ("backup", "echo backup", 5, ["nightly"])
    assert "cron:" in cli("show", job_id).stdout and "backup" in cli("show", job_id).stdout
    cli("enqueue", '{"command": "true", "id": "not-cron"}')
    assert [j["id"] for j in json.loads(cli("list", "--cron", "backup", "--json").stdout)] == \
        [job_id]
    listed = json.loads(cli("cron", "list", "--json").stdout)[0]
    assert (listed["last_job_id"], listed["last_job_state"]) == (job_id, "pending")
    assert listed["last_run"] is not None

    assert cli("cron", "pause", "backup").returncode == 0
    table = cli("cron", "list").stdout
    assert "paused" in table and "backup" in table
    assert json.loads(cli("cron", "list", "--json").stdout)[0]["next_run"] is None
    assert cli("cron", "run", "backup").returncode == 0  # run now works while paused
    resumed = cli("cron", "resume", "backup")
    assert resumed.returncode == 0 and "next run" in resumed.stdout
    assert cli("cron", "remove", "backup").returncode == 0
    empty = cli("cron", "list")
    assert (empty.stdout, empty.stderr) == ("", "no cron schedules\n")
    assert cli("cron", "list", "--json").stdout.strip() == "[]"
    # The jobs stay, with the name.
    assert len(json.loads(cli("list", "--cron", "backup", "--json").stdout)) == 2


def test_an_existing_name_is_refused_unless_replace(crons, cli):
    assert cli("cron", "add", "a", "@hourly", '{"command": "true"}').returncode == 0
    again = cli("cron", "add", "a", "@daily", '{"command": "false"}')
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and "--replace" in again.stderr
    assert json.loads(cli("cron", "list", "--json").stdout)[0]["schedule"] == "@hourly"
    replaced = cli("cron", "add", "a", "@every 5m", '{"command": "false"}', "--replace")
    assert replaced.returncode == 0 and "replaced" in replaced.stdout
    listed = json.loads(cli("cron", "list", "--json").stdout)[0]
    assert (listed["schedule"], listed["template"]) == ("@every 5m", {"command": "false"})


@pytest.mark.parametrize("args, message", [
    (["x", "61 * * * *", '{"command": "true"}'], "invalid schedule"),
    (["x", "* * * *", '{"command": "true"}'], "5 fields"),
    (["x", "@every 0s", '{"command": "true"}'], "between 1s"),
    (["x", "@every 10", '{"command": "true"}'], "@every takes"),
    (["x", "@sometimes", '{"command": "true"}'], "unknown schedule"),
    (["x", "@daily", '{"command": "true"}', "--tz", "Mars/Olympus"], "unknown time zone"),
    (["x", "@daily", '{"command": "true"}', "--tz", "../../etc/passwd"], "unknown time zone"),
    *[(["x", "@daily", '{"command": "true"}', "--tz", zone], "depends on each host's zone data")
      for zone in ("localtime", "posixrules", "posix/UTC", "right/Europe/Paris", "Factory")],
    (["x", "@daily", '{"command": "true", "after": ["nosuch"]}'],
     "the cron template cannot be enqueued: 'after' names job 'nosuch', which does not exist"),
    (["x", "@daily", '{"command": ""}'], "must not be empty"),
    (["x", "@daily", '{"command": "true", "id": "fixed"}'], "'id' is not allowed"),
    (["x", "@daily", '{"command": "true", "run_at": "2030-01-01"}'], "'run_at' is not"),
    (["x", "@daily", '[{"command": "true"}]'], "not an array"),
    (["x", "@daily", '{"command": "true", "nope": 1}'], "unknown field"),
    (["x", "@daily", "{not json"], "invalid JSON"),
    (["bad name", "@daily", '{"command": "true"}'], "invalid cron name"),
    (["", "@daily", '{"command": "true"}'], "invalid cron name"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(crons, cli, args, message):
    result = cli("cron", "add", *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr
    assert cli("cron", "list", "--json").stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["remove", "pause", "resume", "run"])
def test_unknown_names_exit_1_like_unknown_job_ids(crons, cli, command):
    result = cli("cron", command, "nosuch")
    assert result.returncode == 1
    assert result.stderr == "error: no cron schedule named 'nosuch'\n"


def test_a_template_after_a_stored_job_is_accepted(crons, cli):
    cli("enqueue", '{"id": "setup", "command": "true"}')
    added = cli("cron", "add", "x", "@daily", '{"command": "true", "after": ["setup"]}')
    assert added.returncode == 0, added.stderr
    ran = cli("cron", "run", "x").stdout.strip()
    assert json.loads(cli("show", ran, "--json").stdout)["after"] == ["setup"]
    assert cli("show", "setup").returncode == 0
    with crons.connect() as conn:  # the trial enqueue at `add` left nothing behind
        assert conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar() == 2


def test_a_stored_row_this_host_cannot_evaluate_is_marked_not_fatal(crons, cli):
    """A zone a host's data lacks (or an older version accepted): that row says why, the
    others list normally; the table warns once per bad row on stderr, exit 0."""
    assert cli("cron", "add", "good", "@hourly", '{"command": "true"}').returncode == 0
    with crons.begin() as conn:
        conn.execute(sa.text("INSERT INTO cron (name, schedule, zone, template) VALUES "
                             "('bad', '0 9 * * *', 'localtime', '{\"command\": \"true\"}')"))
    listed = {c["name"]: c for c in json.loads(cli("cron", "list", "--json").stdout)}
    assert listed["good"]["error"] is None and listed["good"]["next_run"] is not None
    assert listed["bad"]["next_run"] is None
    assert "'localtime' depends on each host's zone data" in listed["bad"]["error"]
    table = cli("cron", "list")
    assert table.returncode == 0
    [bad] = [line for line in table.stdout.splitlines() if line.startswith("bad ")]
    assert "invalid" in bad
    assert table.stderr.startswith("warning: cron bad: time zone 'localtime' depends")
    assert table.stderr.count("\n") == 1
