"""What job fields can do to a terminal (nothing: human output escapes their control
characters, JSON keeps them exact), signals that would desync a job's state, and ages that
span millennia. Every payload here runs at most `echo`; the control characters are only in
strings."""

from __future__ import annotations

import json
import signal

import pytest
import sqlalchemy as sa

from queuectl import errors, store
from queuectl.core.jobspec import JobSpec
from tests.cli.checks import one_error_line, snapshot

OSC = "\x1b]0;owned\x07"  # retitles a terminal's window
CSI = "\x1b[2J"  # clears the screen
C1 = "\x9b31m"  # the one-byte CSI
RAW = ("\x1b", "\x07", "\x9b", "\r")


def assert_clean(text: str, keep: str = "\n") -> None:
    """No control character but newlines between lines (and those in `keep`)."""
    for ch in text:
        assert ch in keep or not (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0), repr(text)


def hostile_job(engine: sa.Engine, job_id: str = "hostile", state: str = "pending") -> None:
    """A job with control characters in every field a person reads, as an older queuectl (or
    a direct INSERT) could have stored them; its command only echoes."""
    store.enqueue_jobs(engine, specs=[JobSpec(
        job_id, f"echo '{OSC}'\necho second{CSI}", cwd=f"/tmp/{C1}dir",
        env={"TITLE": f"x{OSC}y"}, unique_key="key")])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET unique_key = :k, error = :e, state = :s, "
                             "output = :o WHERE id = :id"),
                     {"k": f"k{OSC}", "e": f"exit code 1: {CSI}fake\rline", "s": state,
                      "o": f"line one\n\ttabbed {OSC}\n", "id": job_id})


def test_show_escapes_every_field_and_json_stays_exact(clean, cli):
    hostile_job(clean)
    shown = cli("show", "hostile", "--env")
    assert shown.returncode == 0, shown.stderr
    assert_clean(shown.stdout, keep="\n\t")  # the output block's tab
    assert "command:    echo '\\x1b]0;owned\\x07'\\necho second\\x1b[2J" in shown.stdout
    assert "unique_key: k\\x1b]0;owned\\x07" in shown.stdout
    assert "cwd:        /tmp/\\x9b31mdir" in shown.stdout
    assert "last error: exit code 1: \\x1b[2Jfake\\rline" in shown.stdout
    assert "  TITLE=x\\x1b]0;owned\\x07y" in shown.stdout
    # The output block keeps its lines and tabs; the rest is escaped (`logs` prints it raw).
    assert "output:\nline one\n\ttabbed \\x1b]0;owned\\x07\n" in shown.stdout
    exact = json.loads(cli("show", "hostile", "--json", "--env").stdout)
    assert exact["command"] == f"echo '{OSC}'\necho second{CSI}"
    assert (exact["unique_key"], exact["env"]["TITLE"]) == (f"k{OSC}", f"x{OSC}y")
    assert exact["error"] == f"exit code 1: {CSI}fake\rline"


def test_logs_prints_the_jobs_output_raw(clean, cli):
    hostile_job(clean)
    assert cli("logs", "hostile").stdout == f"line one\n\ttabbed {OSC}\n"


def test_list_and_dlq_list_escape_cells_with_newlines_written_out(clean, cli):
    hostile_job(clean, "alive")
    hostile_job(clean, "gone", state="dead")
    listed = cli("list")
    assert listed.returncode == 0
    assert_clean(listed.stdout)
    assert "echo '\\x1b]0;owned\\x07'\\necho second\\x1b[2J " in listed.stdout
    assert len(listed.stdout.splitlines()) == 4  # headers, rule, one line per job
    dead = cli("dlq", "list")
    assert dead.returncode == 0
    assert_clean(dead.stdout)
    assert "exit code 1: \\x1b[2Jfake\\rline" in dead.stdout
    assert len(dead.stdout.splitlines()) == 3
    exact = json.loads(cli("list", "--json").stdout)
    assert {j["command"] for j in exact} == {f"echo '{OSC}'\necho second{CSI}"}


def test_cron_list_escapes_the_template(clean, cli):
    # JSON writes C0 characters as \\u001b; C1 ones and DEL stay raw in the stored template.
    template = json.dumps({"command": f"echo {C1}\x7f{OSC}"}, ensure_ascii=False)
    assert cli("cron", "add", "nightly", "@daily", template).returncode == 0
    listed = cli("cron", "list")
    assert listed.returncode == 0
    assert_clean(listed.stdout)
    assert '{"command": "echo \\x9b31m\\x7f\\u001b]0;o…' in listed.stdout
    exact = json.loads(cli("cron", "list", "--json").stdout)
    assert exact[0]["template"]["command"] == f"echo {C1}\x7f{OSC}"


def test_status_and_steering_lines_escape_job_ids(clean, cli):
    store.enqueue_jobs(clean, specs=[JobSpec("plain", "echo hi")])
    with clean.begin() as conn:  # an id stored before ids had to be printable
        conn.execute(sa.text("UPDATE jobs SET id = :new WHERE id = 'plain'"),
                     {"new": f"old{OSC}"})
    held = cli("pause", f"old{OSC}")
    assert held.returncode == 0
    assert held.stdout == "Job old\\x1b]0;owned\\x07: held\n"
    cancelled = cli("cancel", f"old{OSC}")
    assert_clean(cancelled.stdout)
    waited = cli("wait", f"old{OSC}")
    assert waited.stdout == "old\\x1b]0;owned\\x07 cancelled\n"
    assert_clean(cli("status").stdout)


def test_error_messages_escape_the_values_they_echo(cli):
    # Nothing listens on port 1: the refusal quotes the URL given.
    url = f"postgresql://u@127.0.0.1:1/db{OSC}"
    line = one_error_line(cli("--database-url", url, "status"), 2)
    assert "127.0.0.1:1/db\\x1b]0;owned\\x07" in line
    assert_clean(line)


@pytest.mark.parametrize("key", [f"k{OSC}", "tab\there", "new\nline", f"c1{C1}", "\x7f"])
def test_unique_key_refuses_control_characters_like_id(clean, cli, key):
    before = snapshot(clean)
    line = one_error_line(cli("enqueue", json.dumps({"command": "echo hi", "unique_key": key})),
                          2)
    assert "'unique_key' must be non-empty printable text (no control characters)" in line
    assert snapshot(clean) == before


@pytest.mark.parametrize("sig", ["STOP", "CONT", "SIGTSTP", "ttin", "TTOU",
                                 str(int(signal.SIGCONT))])
def test_signal_refuses_job_control_signals_and_points_to_pause_resume(clean, cli, sig):
    store.enqueue_jobs(clean, specs=[JobSpec("running", "echo hi")])
    store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30)
    before = snapshot(clean)
    line = one_error_line(cli("signal", "running", sig), 2)
    assert "`queuectl pause ID` or `queuectl resume ID`" in line
    assert snapshot(clean) == before
    with clean.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM controls")).scalar() == 0
    # The rule is in the store too, for every caller of signal_job (the dashboard's...).
    with pytest.raises(errors.UsageError, match="resume"):
        store.signal_job(clean, job_id="running", signal=int(signal.SIGCONT))


def test_signal_still_sends_other_signals(clean, cli):
    store.enqueue_jobs(clean, specs=[JobSpec("running", "echo hi")])
    store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30)
    sent = cli("signal", "running", "HUP")
    assert (sent.returncode, sent.stdout) == (0, "Job running: signal requested\n")


def test_metrics_of_a_job_due_since_year_1(clean, cli):
    store.enqueue_jobs(clean, specs=[JobSpec("ancient", "echo hi")])
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET run_at = '0001-01-01 00:00:00+00' "
                             "WHERE id = 'ancient'"))
    shown = cli("metrics")
    assert shown.returncode == 0, shown.stderr
    [row] = [line for line in shown.stdout.splitlines() if line.startswith("oldest waiting")]
    days = int(row.split()[-1].removesuffix("d").replace(",", ""))
    assert 739_000 < days < 800_000  # year 1 to year 2026 and beyond: about 2,025 years
    report = json.loads(cli("metrics", "--json").stdout)
    assert report["oldest_waiting_age"] == pytest.approx(days * 86400, abs=86400)
    overview = store.dashboard_overview(clean)
    assert overview.oldest_waiting_age == pytest.approx(days * 86400, abs=86400)
    assert store.collect_metrics(clean).oldest_waiting_age == \
        pytest.approx(days * 86400, abs=86400)
