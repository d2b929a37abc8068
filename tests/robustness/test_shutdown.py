"""Shutdown, crash and outage of one worker, through real worker processes.

- a first SIGTERM lets the running job finish and claims nothing more;
- a second SIGTERM (or `--grace` running out) kills the job's process group and puts the job back
  to pending without counting the attempt;
- kill -9 of a worker: its job is rescued after the lease and completed by another worker, and
  the orphaned run does not go on running unsupervised;
- a PostgreSQL restart while a job runs, and a result that has to wait for the server to come
  back (private cluster: the shared server is never restarted).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from pgcluster import (
    Ledger,
    configure,
    engine_for,
    enqueue,
    job_rows,
    metric_rows,
    ok_command,
    q,
    report,
    wait_until,
    worker_env,
)

FAST = {"heartbeat_interval": "0.3s", "poll_interval": "0.2s", "lease_timeout": "2s",
        "backoff_base": "1", "backoff_max": "0.1s"}


def _state(engine: sa.Engine, job_id: str) -> sa.Row:
    return job_rows(engine)[job_id]


def _pg_alive(pgid: int) -> bool:
    """Whether process group `pgid` has a member that is not a zombie."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _long_job(job_id: str, ledger: Path, pidfile: Path, seconds: int = 30) -> str:
    """Writes its process group id, S, sleeps, writes E."""
    return (f"echo $$ > {q(str(pidfile))}; echo \"S {job_id} $PPID\" >> {q(str(ledger))}; "
            f"sleep {seconds}; echo \"E {job_id} $PPID $PPID\" >> {q(str(ledger))}")


@pytest.fixture
def fast(clean: sa.Engine) -> sa.Engine:
    configure(clean, **FAST)
    return clean


def test_first_sigterm_finishes_the_running_job_and_claims_nothing_more(
        fast, env, make_workers, scratch):
    ledger = scratch / "ledger"
    enqueue(fast, [{"id": "slow", "command": ok_command("slow", ledger, sleep="1.5")}])
    pool = make_workers(env)
    worker = pool.start("--concurrency", "2")
    wait_until(lambda: "slow" in Ledger.read(ledger).runs, 20, "the job to start")

    worker.send_signal(signal.SIGTERM)
    wait_until(lambda: "SIGTERM received" in pool.logs(), 10, "the worker to log the signal")
    enqueue(fast, [{"id": "late", "command": ok_command("late", ledger)}])
    assert worker.wait(20) == 0, pool.tail()

    runs = Ledger.read(ledger).runs
    assert [r.end for r in runs["slow"]] == ["E"]
    assert "late" not in runs
    rows = job_rows(fast)
    assert (rows["slow"].state, rows["slow"].attempts) == ("completed", 1)
    assert (rows["late"].state, rows["late"].attempts) == ("pending", 0)
    with fast.connect() as conn:  # deregistered on a clean exit
        assert conn.execute(sa.text("SELECT count(*) FROM workers")).scalar() == 0


@pytest.mark.parametrize("how", ["second-signal", "grace"])
def test_hard_stop_kills_the_group_and_puts_the_job_back_uncounted(
        how, fast, env, make_workers, scratch):
    ledger, pidfile = scratch / "ledger", scratch / "pgid"
    enqueue(fast, [{"id": "long", "command": _long_job("long", ledger, pidfile),
                    "max_retries": 0}])
    pool = make_workers(env)
    worker = pool.start(*(["--grace", "1"] if how == "grace" else []))
    wait_until(lambda: "long" in Ledger.read(ledger).runs, 20, "the job to start")
    pgid = int(pidfile.read_text())
    assert _pg_alive(pgid)

    t0 = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    if how == "second-signal":
        wait_until(lambda: "SIGTERM received" in pool.logs(), 10, "the first signal")
        worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0, pool.tail()
    elapsed = time.monotonic() - t0

    assert elapsed < 10, f"hard stop took {elapsed:.1f}s"
    wait_until(lambda: not _pg_alive(pgid), 3, "the job's process group to be gone")
    row = _state(fast, "long")
    # max_retries 0: had the interruption counted, the job would be dead.
    assert (row.state, row.attempts) == ("pending", 0), row
    assert metric_rows(fast).get("long", []) == []
    assert [r.end for r in Ledger.read(ledger).runs["long"]] == [None]
    assert "put back to pending" in pool.logs()

    # The job runs again, in full, on the next worker.
    with fast.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET command = :c WHERE id = 'long'"),
                     {"c": ok_command("long", ledger)})
    pool.start()
    wait_until(lambda: _state(fast, "long").state == "completed", 20, "the rerun")
    assert _state(fast, "long").attempts == 1


def test_kill_9_job_is_rescued_elsewhere_and_the_orphan_does_not_go_on(
        fast, env, make_workers, scratch):
    ledger, pidfile = scratch / "ledger", scratch / "pgid"
    enqueue(fast, [{"id": "victim", "max_retries": 2, "command": (
        f"echo $$ > {q(str(pidfile))}; " + ok_command("victim", ledger, sleep="4"))}])
    pool = make_workers(env)
    # Both workers are up before the 4 s job can end (on a loaded machine a worker's start-up
    # alone can take longer); the one that claimed it is the one to kill.
    pair = [pool.start(), pool.start()]
    wait_until(lambda: "victim" in Ledger.read(ledger).runs, 20, "the job to start")
    first_pgid = int(pidfile.read_text())
    wait_until(lambda: "worker" in pool.logs() and pool.logs().count(" started (id ") >= 2,
               20, "the second worker to register")
    [doomed] = [p for p in pair if p.pid == Ledger.read(ledger).runs["victim"][0].worker_pid]

    assert Ledger.read(ledger).runs["victim"][0].end is None, "killed too late: job ended"
    t_kill = time.monotonic()
    pool.crash(doomed)
    wait_until(lambda: _state(fast, "victim").attempts == 2, 30,
               "the job to be rescued and claimed again", interval=0.02)
    rescue = time.monotonic() - t_kill
    wait_until(lambda: _state(fast, "victim").state == "completed", 30,
               "the rescued job to complete elsewhere", interval=0.02)
    completed = time.monotonic() - t_kill

    row = _state(fast, "victim")
    assert row.attempts == 2
    outcomes = [(m.outcome, m.exit_code) for m in metric_rows(fast)["victim"]]
    assert outcomes == [("failed", None), ("completed", 0)]
    runs = Ledger.read(ledger).runs["victim"]
    assert [r.worker_pid for r in runs][0] == doomed.pid and len(runs) == 2
    assert runs[1].worker_pid != doomed.pid and runs[1].end == "E"
    # The first run was cut off with its worker: it must not finish on its own, unsupervised,
    # while the rescue runs it again.
    wait_until(lambda: not _pg_alive(first_pgid), 5, "the orphaned run to die")
    assert runs[0].end is None, "the run of a killed worker went on and finished unsupervised"
    report("kill -9 rescue", lease_timeout="2s", heartbeat="0.3s", job_duration="4s",
           kill_to_reclaimed=f"{rescue:.2f}s", kill_to_completed_elsewhere=f"{completed:.2f}s")
    assert rescue < 2 + 0.3 * 2 + 3


def test_worker_survives_a_postgres_restart_and_writes_results_kept_in_memory(
        private_pg, make_workers, scratch, tmp_path):
    url = private_pg.create_queue_db()
    engine = engine_for(url)
    try:
        configure(engine, heartbeat_interval="0.3s", poll_interval="0.2s", lease_timeout="30s")
        ledger = scratch / "ledger"
        enqueue(engine, [{"id": "across", "command": ok_command("across", ledger, sleep="1")}])
        pool = make_workers(worker_env(url, tmp_path / "home"))
        worker = pool.start()
        wait_until(lambda: "across" in Ledger.read(ledger).runs, 20, "the job to start")

        # Down while the job finishes: the result must wait in memory for the server.
        private_pg.stop()
        wait_until(lambda: Ledger.read(ledger).ends("across", "E") == 1, 20, "the job to end")
        wait_until(lambda: "database unavailable" in pool.logs(), 20, "the outage to be seen")
        assert worker.poll() is None
        private_pg.start()
        engine.dispose()
        wait_until(lambda: _state(engine, "across").state == "completed", 30,
                   "the kept result to be written", interval=0.1)
        assert "database is back" in pool.logs()

        # A restart between jobs: the worker reconnects and goes on claiming.
        private_pg.restart()
        engine.dispose()
        enqueue(engine, [{"id": "after", "command": ok_command("after", ledger)}])
        wait_until(lambda: _state(engine, "after").state == "completed", 30,
                   "a job enqueued after the restart", interval=0.1)
        assert worker.poll() is None, pool.tail()
        assert (_state(engine, "across").attempts, _state(engine, "after").attempts) == (1, 1)
        assert len(Ledger.read(ledger).runs["across"]) == 1
        assert "Traceback" not in pool.logs(), pool.tail()
    finally:
        engine.dispose()
