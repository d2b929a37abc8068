"""Output that tells the truth (issue 27): a fleet-wide pause shows in `status`, `doctor` and
`queue list`; a paused running job shows its pause in `show` and `list`; a job on its next run
shows that run, and its last run's end as such; runs are written one way; `wait` on a timeout
still prints the jobs that finished; `dlq list` says when it is empty and lists the latest
death first. Runs are claimed and finished through the store, as a worker would (no worker
process: these tests are in process)."""

from __future__ import annotations

import getpass
import json
import re
import socket
from datetime import datetime

import sqlalchemy as sa

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState


def _claim(engine: sa.Engine) -> store.Claimed:
    [claimed] = store.claim_jobs(engine, worker_id=1, limit=1, lease_seconds=30)
    return claimed


def _fail(engine: sa.Engine, claimed: store.Claimed) -> None:
    """Finish `claimed`'s run failed (exit 1, 0.5 s), due again at once."""
    store.finish_runs(engine, results=[store.RunResult(
        claimed.id, claimed.run_id, JobState.FAILED, 1, "exited with code 1", "", False, 0.5,
        retry_delay=0.0)], worker_id=1)


def _field(shown: str, key: str) -> str:
    [value] = [line.split(":", 1)[1].strip() for line in shown.splitlines()
               if line.startswith(key + ":")]
    return value


# --- pause --all --------------------------------------------------------------------------------

def test_status_says_since_when_claiming_is_paused_across_the_fleet(clean, cli):
    assert json.loads(cli("status", "--json").stdout)["claiming_paused"] is None
    assert "paused" not in cli("status").stdout
    cli("pause", "--all")
    since = json.loads(cli("status", "--json").stdout)["claiming_paused"]["since"]
    assert datetime.fromisoformat(since).utcoffset() is not None
    by = json.loads(cli("status", "--json").stdout)["claiming_paused"]["by"]
    client = f"{getpass.getuser()}@{socket.gethostname()}"
    login = clean.url.username  # the database login, then the client as it reports itself
    assert by == f"{login} ({client})"
    first = cli("status").stdout.splitlines()[0]
    assert re.fullmatch(r"Claiming is paused across the fleet since \d{4}-\d\d-\d\d "
                        r"\d\d:\d\d:\d\d [+-]\d\d:\d\d, by " + re.escape(by)
                        + r": no worker starts new jobs .*"
                        r"`queuectl resume --all` restarts it\)", first), first
    cli("pause", "--all")  # again: still paused since the first time
    assert json.loads(cli("status", "--json").stdout)["claiming_paused"]["since"] == since
    cli("resume", "--all")
    assert json.loads(cli("status", "--json").stdout)["claiming_paused"] is None


def test_doctor_and_queue_list_show_a_fleet_pause(clean, cli):
    cli("enqueue", '{"command": "true", "queue": "emails"}')
    assert re.search(r"^claiming: +on$", cli("doctor").stdout, re.M)
    assert cli("queue", "list").stderr == ""
    cli("pause", "--all")
    doctor = cli("doctor")
    assert doctor.returncode == 0
    assert re.search(r"^claiming: +paused across the fleet since \d{4}-.*`queuectl resume "
                     r"--all`", doctor.stdout, re.M), doctor.stdout
    listed = cli("queue", "list")
    assert "emails" in listed.stdout
    assert listed.stderr.startswith("note: claiming is paused across the fleet since ")
    as_json = cli("queue", "list", "--json")
    assert json.loads(as_json.stdout)[0]["name"] == "emails"  # stdout stays JSON
    assert as_json.stderr.startswith("note: claiming is paused")


# --- a paused running job ---------------------------------------------------------------------

def test_show_and_list_mark_a_paused_running_job(clean, cli):
    store.enqueue_jobs(clean, specs=[JobSpec("busy", "sleep 30"), JobSpec("idle", "true")])
    _claim(clean)  # busy (enqueued first)
    assert _field(cli("show", "busy").stdout, "state") == "processing"
    assert "paused:" not in cli("show", "busy").stdout
    cli("pause", "busy")
    paused_at = json.loads(cli("show", "busy", "--json").stdout)["paused_at"]
    assert paused_at is not None
    paused = _field(cli("show", "busy").stdout, "paused")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d \(SIGSTOP\)", paused)
    rows = {line.split()[0]: line for line in cli("list").stdout.splitlines()[2:]}
    assert " processing (paused) " in rows["busy"]
    assert " pending " in rows["idle"] and "(paused)" not in rows["idle"]
    cli("resume", "busy")
    assert "paused:" not in cli("show", "busy").stdout
    assert "(paused)" not in cli("list").stdout


# --- the current run ----------------------------------------------------------------------------

def test_show_of_a_job_on_its_next_run_shows_that_run_and_the_last_runs_end(clean, cli):
    store.enqueue_jobs(clean, specs=[JobSpec("again", "exit 1")])
    _fail(clean, _claim(clean))
    failed = cli("show", "again").stdout
    assert _field(failed, "state") == "failed" and _field(failed, "exit code") == "1"
    assert _field(failed, "duration") == "0.500s" and "last run ended" not in failed
    _claim(clean)  # its second run starts
    shown = cli("show", "again").stdout
    assert _field(shown, "state") == "processing"
    assert _field(shown, "runs") == "run 2 of at most 4; max_retries 3"
    assert _field(shown, "started") != "-"
    assert (_field(shown, "finished"), _field(shown, "duration"), _field(shown, "exit code")) \
        == ("- (running)", "- (running)", "-")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d after 0\.500s, "
                        r"exit code 1", _field(shown, "last run ended"))
    data = json.loads(cli("show", "again", "--json").stdout)  # JSON: the fields as stored
    assert (data["attempts"], data["max_retries"], data["exit_code"], data["duration"]) == \
        (2, 3, 1, 0.5)


def test_show_of_a_claimed_job_not_started_yet_says_so(clean, cli):
    store.enqueue_jobs(clean, specs=[JobSpec("ahead", "true")])
    store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30, start_now=0)
    shown = cli("show", "ahead").stdout
    assert _field(shown, "started") == "- (claimed by a worker, not started yet)"
    assert "last run ended" not in shown


# --- one notation for runs ----------------------------------------------------------------------

def test_runs_are_written_run_n_of_at_most_m_in_show_list_and_dlq(clean, cli):
    cli("enqueue", '[{"command": "true", "id": "new", "max_retries": 0},'
                   ' {"command": "exit 1", "id": "gone", "max_retries": 1}]')
    assert _field(cli("show", "new").stdout, "runs") == "no run yet (at most 1); max_retries 0"
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET state = 'dead', attempts = 2, finished_at = now(),"
                             " error = 'exited with code 1' WHERE id = 'gone'"))
    assert _field(cli("show", "gone").stdout, "runs") == "run 2 of at most 2; max_retries 1"
    listed = cli("list").stdout.splitlines()
    assert listed[0].split()[4] == "RUN"
    rows = {line.split()[0]: line for line in listed[2:]}
    assert " no run yet (at most 1) " in rows["new"] and " run 2 of at most 2 " in rows["gone"]
    dead = cli("dlq", "list").stdout.splitlines()
    assert " run 2 of at most 2 " in dead[2]
    assert cli("dlq", "retry", "--all").stdout == "1 dead job moved back to pending\n"


# --- wait ---------------------------------------------------------------------------------------

def test_wait_that_times_out_prints_the_finished_jobs_and_names_the_others(clean, cli):
    cli("enqueue", '[{"command": "true", "id": "a"}, {"command": "true", "id": "b"},'
                   ' {"command": "true", "id": "c"}]')
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET state = 'completed', finished_at = now() "
                             "WHERE id = 'a'"))
    store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30, queues=None)  # b
    result = cli("wait", "a", "b", "c", "--timeout", "0.2")
    assert (result.returncode, result.stdout) == (2, "a completed\n")
    assert result.stderr == ("error: timed out after 0.2s: 2 jobs of 3 not finished yet: "
                             "b (processing), c (pending)\n")


# --- dlq list ---------------------------------------------------------------------------------

def test_dlq_list_says_no_jobs_when_empty(clean, cli):
    cli("enqueue", '{"command": "true"}')
    result = cli("dlq", "list")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "no jobs\n")
    assert json.loads(cli("dlq", "list", "--json").stdout) == []


def test_dlq_list_shows_the_latest_death_first(clean, cli):
    cli("enqueue", '[{"command": "exit 1", "id": "old-job"}, {"command": "exit 1", '
                   '"id": "new-job"}, {"command": "exit 1", "id": "mid-job"}]')
    with clean.begin() as conn:  # created old, new, mid; died: old-job last, new-job first
        conn.execute(sa.text(
            "UPDATE jobs SET state = 'dead', attempts = 4, finished_at = now() - CASE id "
            "WHEN 'old-job' THEN interval '1 minute' WHEN 'mid-job' THEN interval '2 minutes'"
            " ELSE interval '3 minutes' END"))
        conn.execute(sa.text("UPDATE jobs SET created_at = now() - CASE id WHEN 'old-job' "
                             "THEN interval '1 hour' WHEN 'new-job' THEN interval '1 second' "
                             "ELSE interval '1 minute' END"))
    table = cli("dlq", "list").stdout.splitlines()
    assert [line.split()[0] for line in table[2:]] == ["old-job", "mid-job", "new-job"]
    assert [j["id"] for j in json.loads(cli("dlq", "list", "--json").stdout)] == \
        ["old-job", "mid-job", "new-job"]
    assert [line.split()[0] for line in cli("dlq", "list", "-n", "1").stdout.splitlines()[2:]] \
        == ["old-job"]
