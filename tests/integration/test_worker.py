"""Real worker processes running real shell commands against a real database."""

import json
import os
import signal
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.conftest import wait_for


def states(engine):
    return store.count_states(engine)


def all_done(engine, n, state="completed"):
    return lambda: states(engine)[state] == n


def fast_config(cli, **extra):
    values = {"poll_interval": "0.2s", "backoff_base": "1", "backoff_max": "0.2s", **extra}
    for key, value in values.items():
        assert cli("config", "set", key, value).returncode == 0


def test_four_workers_run_400_jobs_exactly_once(clean, cli, workers, tmp_path):
    ledger = tmp_path / "ledger"
    specs = [JobSpec(f"job-{i}", f"echo job-{i} >> {ledger}") for i in range(400)]
    store.enqueue_jobs(clean, specs=specs)
    workers.start(4)
    wait_for(all_done(clean, 400), timeout=90, message="400 jobs completed")
    lines = ledger.read_text().split()
    assert len(lines) == 400
    assert sorted(lines) == sorted(s.id for s in specs)
    with clean.connect() as conn:
        runs = conn.execute(sa.text("SELECT count(*), count(DISTINCT job_id), "
                                    "count(DISTINCT worker_id) FROM metrics")).one()
    assert runs[0] == runs[1] == 400
    assert runs[2] == 4  # every worker took part


def test_priority_order_with_one_worker(clean, workers, tmp_path):
    ledger = tmp_path / "ledger"
    prios = [0, 5, -1, 10, 5, 3]
    store.enqueue_jobs(clean, specs=[
        JobSpec(f"p{i}", f"echo p{i} >> {ledger}", priority=p) for i, p in enumerate(prios)])
    workers.start(1)
    wait_for(all_done(clean, 6), message="jobs completed")
    # Equal priorities run oldest run_at first, then by id.
    assert ledger.read_text().split() == ["p3", "p1", "p4", "p5", "p0", "p2"]


def test_future_run_at_is_not_run_early(clean, cli, workers, tmp_path):
    fast_config(cli)
    workers.start(1)
    # Up and idle first: on a loaded machine interpreter start-up alone can exceed 2 s.
    wait_for(lambda: store.status(clean).workers, message="worker registered")
    run_at = datetime.now(UTC) + timedelta(seconds=2)
    store.enqueue_jobs(clean, specs=[JobSpec("later", f"date +%s.%N > {tmp_path}/ran",
                                             run_at=run_at)])
    wait_for(all_done(clean, 1), message="scheduled job ran")
    job = store.get_job(clean, job_id="later")
    assert job.started_at >= run_at
    ran = float((tmp_path / "ran").read_text())
    assert ran >= run_at.timestamp()
    # Started on time: woken at the due time, not at the next poll.
    assert (job.started_at - run_at).total_seconds() < 0.5


def test_timeout_kills_the_whole_process_group(clean, workers, tmp_path):
    pids = tmp_path / "pids"
    command = f"sleep 100 & echo $! >> {pids}; sh -c 'echo $$ >> {pids}; sleep 100'"
    store.enqueue_jobs(clean, specs=[JobSpec("slow", command, max_retries=0, timeout_ms=500)])
    workers.start(1)
    wait_for(all_done(clean, 1, "dead"), message="timed-out job dead")
    job = store.get_job(clean, job_id="slow")
    assert "timed out after" in job.error and "timeout 500 ms" in job.error
    assert 0.5 <= job.duration < 5
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 2

    def gone(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z"

    wait_for(lambda: all(gone(p) for p in children), timeout=5, message="children killed")


def test_default_timeout_from_config(clean, cli, workers):
    fast_config(cli, job_timeout="300ms")
    store.enqueue_jobs(clean, specs=[JobSpec("t", "sleep 30", max_retries=0)])
    workers.start(1)
    wait_for(all_done(clean, 1, "dead"), message="job timed out")
    assert "timeout 300 ms" in store.get_job(clean, job_id="t").error


def test_backoff_delays_measured_from_stored_timestamps(clean, cli, workers):
    for key, value in {"poll_interval": "5s", "backoff_base": "1.5",
                       "backoff_max": "1h", "backoff_jitter": "0"}.items():
        cli("config", "set", key, value)
    store.enqueue_jobs(clean, specs=[JobSpec("flaky", "echo nope; exit 4", max_retries=2)])
    workers.start(1)
    wait_for(all_done(clean, 1, "dead"), timeout=30, message="job dead after retries")
    with clean.connect() as conn:
        runs = conn.execute(sa.text(
            "SELECT attempt, outcome, started_at, finished_at FROM metrics "
            "WHERE job_id = 'flaky' ORDER BY attempt")).all()
    assert [(r.attempt, r.outcome) for r in runs] == [(1, "failed"), (2, "failed"), (3, "dead")]
    gaps = [(runs[k].started_at - runs[k - 1].finished_at).total_seconds() for k in (1, 2)]
    # After failure k the job waits backoff_base ** k seconds: 1.5s then 2.25s. The worker
    # wakes at the due time (poll_interval is 5s here), so it starts within a few ms.
    for gap, expected in zip(gaps, (1.5, 2.25), strict=True):
        assert expected <= gap < expected + 0.3, gaps
    job = store.get_job(clean, job_id="flaky")
    assert (job.attempts, job.exit_code) == (3, 4)
    assert job.error == "exited with code 4: nope"


def test_dlq_retry_runs_the_job_again(clean, cli, workers, tmp_path):
    fast_config(cli)
    marker = tmp_path / "fixed"
    store.enqueue_jobs(clean, specs=[JobSpec("d1", f"test -e {marker}", max_retries=0)])
    workers.start(1)
    wait_for(all_done(clean, 1, "dead"), message="job dead")
    listed = json.loads(cli("dlq", "list", "--json").stdout)
    assert [j["id"] for j in listed] == ["d1"]
    marker.touch()
    result = cli("dlq", "retry", "d1")
    assert result.returncode == 0 and "d1" in result.stdout
    wait_for(all_done(clean, 1), message="retried job completed")
    job = store.get_job(clean, job_id="d1")
    assert (job.attempts, job.error) == (1, None)


def test_jobs_survive_a_worker_restart(clean, cli, workers, tmp_path):
    fast_config(cli)
    ledger = tmp_path / "ledger"
    store.enqueue_jobs(clean, specs=[JobSpec("long", f"sleep 1; echo long >> {ledger}")])
    store.enqueue_jobs(clean, specs=[JobSpec(f"n{i}", f"echo n{i} >> {ledger}", priority=-1)
                                     for i in range(20)])
    [first] = workers.start(1)
    wait_for(lambda: states(clean)["processing"] == 1, message="long job started")
    first.send_signal(signal.SIGTERM)
    assert first.wait(20) == 0
    # The running job finished; the others are still waiting.
    assert states(clean)["completed"] == 1
    assert states(clean)["pending"] == 20
    workers.start(1)
    wait_for(all_done(clean, 21), message="all jobs completed after restart")
    assert sorted(ledger.read_text().split()) == sorted(["long"] + [f"n{i}" for i in range(20)])


def test_output_is_captured_and_failures_recorded(clean, workers):
    store.enqueue_jobs(clean, specs=[
        JobSpec("out", "echo to-out; echo to-err >&2"),
        JobSpec("missing", "no-such-command-xyz", max_retries=0),
        JobSpec("signal", "kill -9 $$", max_retries=0),
        JobSpec("big", "head -c 3000000 /dev/zero | tr '\\0' x; echo END"),
    ])
    workers.start(1)
    wait_for(lambda: states(clean)["completed"] + states(clean)["dead"] == 4,
             message="all four finished")
    out = store.get_job(clean, job_id="out")
    assert out.output == "to-out\nto-err\n" and out.exit_code == 0
    missing = store.get_job(clean, job_id="missing")
    assert missing.state is JobState.DEAD and "command not found" in missing.error
    assert "killed by SIGKILL" in store.get_job(clean, job_id="signal").error
    big = store.get_job(clean, job_id="big")
    assert big.output_truncated and len(big.output) == 1024 * 1024
    assert big.output.endswith("xEND\n")


def test_status_shows_live_workers_and_running_jobs(clean, cli, workers, tmp_path):
    gate = tmp_path / "gate"
    # The job runs until the test opens the gate, however slow the machine is.
    store.enqueue_jobs(clean, specs=[JobSpec("busy", f"while [ ! -e {gate} ]; do sleep 0.05; "
                                                     "done")])
    workers.start(1, "--concurrency", "2")
    wait_for(lambda: states(clean)["processing"] == 1, message="job running")
    status = json.loads(cli("status", "--json").stdout)
    [worker] = status["workers"]
    assert worker["running"] == ["busy"] and worker["concurrency"] == 2
    assert worker["pid"] == workers.procs[0].pid
    human = cli("status").stdout
    assert "PROCESSING" in human and "busy" in human
    gate.touch()
    wait_for(all_done(clean, 1), message="job completed once the gate opened")
