"""Steering running work through the real CLI and real workers: logs -f, cancel, signal,
pause/resume, retry, wait, and the fleet's claiming switch."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.conftest import QUEUECTL, wait_for


def fast(cli) -> None:
    for key, value in {"poll_interval": "0.2s", "heartbeat_interval": "0.5s",
                       "backoff_base": "1", "backoff_max": "0.1s"}.items():
        assert cli("config", "set", key, value).returncode == 0


def state(engine, job_id: str) -> JobState:
    return store.get_job(engine, job_id=job_id).state


def pgid_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def process_state(pid: int) -> str:
    """The state letter of process `pid` in /proc (R, S, T for stopped, ...)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def test_logs_follow_streams_lines_in_order_before_the_job_ends(clean, cli, env, workers,
                                                                 tmp_path):
    fast(cli)
    workers.start(1)
    # The job goes past its first line only once the follower has shown it: on a loaded
    # machine the follower's start-up alone can outlast a job that does not wait.
    go = tmp_path / "go"
    command = (f"echo line 1; until [ -e {go} ]; do sleep 0.1; done; "
               "for i in 2 3 4 5 6; do echo line $i; sleep 0.5; done")
    store.enqueue_jobs(clean, specs=[JobSpec("talker", command)])
    follower = subprocess.Popen([*QUEUECTL, "logs", "-f", "talker"], env=env,
                                stdout=subprocess.PIPE, text=True)
    assert follower.stdout is not None
    seen: list[tuple[str, JobState]] = []
    seen.append((follower.stdout.readline().strip(), state(clean, "talker")))
    go.touch()
    for line in follower.stdout:
        seen.append((line.strip(), state(clean, "talker")))
    assert follower.wait(10) == 0
    assert [text for text, _ in seen] == [f"line {i}" for i in range(1, 7)]
    # The first lines arrived while the job was still running: live, not at the end.
    assert seen[0][1] is JobState.PROCESSING
    late = cli("logs", "talker", "--tail", "2")
    assert late.stdout == "line 5\nline 6\n"


def test_cancel_stops_a_running_job_and_a_pending_one_never_runs(clean, cli, workers,
                                                                 tmp_path):
    fast(cli)
    pids = tmp_path / "pid"
    workers.start(1)
    store.enqueue_jobs(clean, specs=[JobSpec("long", f"echo $$ > {pids}; sleep 300")])
    wait_for(lambda: pids.exists() and pids.read_text().strip(), message="job running")
    pgid = int(pids.read_text())
    store.enqueue_jobs(clean, specs=[JobSpec("queued", f"touch {tmp_path}/ran")])
    hold = cli("cancel", "queued")
    assert hold.returncode == 0 and "cancelled" in hold.stdout
    result = cli("cancel", "long")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Job long: cancelled"
    wait_for(lambda: not pgid_alive(pgid), timeout=5, message="process group gone")
    # Request to result on the database's clock (the result is written only after the job's
    # process group is gone), not from before the CLI's process started: under load its
    # start-up alone can take seconds.
    with clean.connect() as conn:
        gone_in = conn.execute(sa.text(
            "SELECT extract(epoch FROM j.finished_at - c.created_at) FROM jobs j "
            "JOIN controls c ON c.job_id = j.id WHERE j.id = 'long'")).scalar_one()
    assert gone_in < 5
    job = store.get_job(clean, job_id="long")
    assert (job.state, job.attempts) == (JobState.CANCELLED, 1)
    assert "cancelled" in (job.error or "")
    again = cli("cancel", "long")
    assert again.returncode == 1 and "it is cancelled" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    # The pending job was cancelled before any worker took it, and never ran.
    assert state(clean, "queued") is JobState.CANCELLED
    assert not (tmp_path / "ran").exists()
    assert cli("retry", "queued").returncode == 0
    wait_for(lambda: state(clean, "queued") is JobState.COMPLETED, message="retried job ran")


def test_pause_stops_output_growing_and_resume_restarts_it(clean, cli, workers, tmp_path):
    fast(cli)
    ticks = tmp_path / "ticks"
    pid = tmp_path / "pid"
    workers.start(1)
    store.enqueue_jobs(clean, specs=[JobSpec(
        "ticker", f"echo $$ > {pid}.tmp; mv {pid}.tmp {pid}; "
                  f"i=0; until [ -e {ticks}.end ]; do i=$((i+1)); echo $i >> {ticks}; "
                  "sleep 0.05; done")])  # ticks until told to end: a slow CLI cannot outlast it
    wait_for(lambda: ticks.exists() and len(ticks.read_text().split()) > 3, message="ticking")
    shell = int(pid.read_text())
    assert cli("pause", "ticker").returncode == 0
    wait_for(lambda: process_state(shell) == "T", timeout=5, message="the job's shell stops")
    frozen = len(ticks.read_text().split())
    time.sleep(0.3)  # negative check: a stopped shell appends nothing
    assert len(ticks.read_text().split()) == frozen, "output stops growing"
    assert state(clean, "ticker") is JobState.PROCESSING
    assert cli("resume", "ticker").returncode == 0
    wait_for(lambda: len(ticks.read_text().split()) > frozen + 3, timeout=5,
             message="output grows again")
    Path(f"{ticks}.end").touch()
    wait_for(lambda: state(clean, "ticker") is JobState.COMPLETED, timeout=30,
             message="the job completes")


def test_signal_reaches_the_process_group_without_changing_state(clean, cli, workers,
                                                                 tmp_path):
    fast(cli)
    got = tmp_path / "got"
    armed = tmp_path / "armed"
    workers.start(1)
    store.enqueue_jobs(clean, specs=[JobSpec(
        "trap", f"trap 'echo hup >> {got}' HUP; touch {armed}; "
                "for i in $(seq 1 600); do sleep 0.1; done")])  # cancelled below
    wait_for(lambda: state(clean, "trap") is JobState.PROCESSING, message="running")
    wait_for(armed.exists, message="the shell installed its trap")
    assert cli("signal", "trap", "HUP").returncode == 0
    wait_for(lambda: got.exists(), timeout=5, message="the job got SIGHUP")
    assert state(clean, "trap") is JobState.PROCESSING
    bad = cli("signal", "trap", "NOPE")
    assert bad.returncode == 2 and "unknown signal" in bad.stderr
    assert cli("cancel", "trap").returncode == 0


def test_wait_exit_codes_and_timeout(clean, cli, workers):
    fast(cli)
    store.enqueue_jobs(clean, specs=[JobSpec("ok", "true"), JobSpec("bad", "exit 3",
                                                                     max_retries=0),
                                     JobSpec("slow", "sleep 300")])  # cancelled below
    timed = cli("wait", "ok", "--timeout", "0.5")
    assert timed.returncode == 2 and "timed out" in timed.stderr
    workers.start(1, "--concurrency", "3")
    good = cli("wait", "ok")
    assert (good.returncode, good.stdout) == (0, "ok completed\n")
    mixed = cli("wait", "ok", "bad")
    assert mixed.returncode == 1 and "bad dead" in mixed.stdout
    assert cli("wait", "nosuchjob").returncode == 1
    assert cli("cancel", "slow").returncode == 0


def test_pause_all_stops_claiming_fleet_wide_until_resumed(clean, cli, workers):
    fast(cli)
    workers.start(1)
    assert cli("pause", "--all").returncode == 0
    store.enqueue_jobs(clean, specs=[JobSpec("later", "true")])
    wait_for(lambda: store.status(clean).workers, timeout=30, message="the worker is up")
    time.sleep(1.5)  # several poll intervals: nothing may be claimed meanwhile
    assert state(clean, "later") is JobState.PENDING
    assert cli("resume", "--all").returncode == 0
    wait_for(lambda: state(clean, "later") is JobState.COMPLETED, timeout=5,
             message="claiming restarted")
    assert cli("pause").returncode == 2  # neither ids nor --all


def test_held_job_is_not_claimed_until_resumed(clean, cli, workers):
    fast(cli)
    store.enqueue_jobs(clean, specs=[JobSpec("h", "true")])
    assert cli("pause", "h").stdout.strip() == "Job h: held"
    workers.start(1)
    wait_for(lambda: store.status(clean).workers, timeout=30, message="the worker is up")
    time.sleep(1.0)  # a held job must survive several claims
    assert state(clean, "h") is JobState.HELD
    assert cli("resume", "h").returncode == 0
    wait_for(lambda: state(clean, "h") is JobState.COMPLETED, message="resumed job ran")


def test_worker_stop_stops_foreground_workers_of_this_host_and_all_hosts(clean, cli, env,
                                                                         workers):
    fast(cli)
    supervised = subprocess.Popen([*QUEUECTL, "worker", "start", "--count", "2"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
    plain = workers.start(1)[0]  # a foreground `worker run`, not a daemon
    try:
        wait_for(lambda: len(store.status(clean).workers) == 3, timeout=30,
                 message="three live workers")
        store.enqueue_jobs(clean, specs=[JobSpec("finish-me", "sleep 1")])
        wait_for(lambda: state(clean, "finish-me") is JobState.PROCESSING, message="running")
        stopped = cli("worker", "stop", "--timeout", "30")
        assert stopped.returncode == 0, stopped.stderr
        assert "Stopping 3 worker(s)" in stopped.stdout
        assert supervised.wait(30) == 0  # the supervisor did not restart them
        assert plain.wait(30) == 0
        assert state(clean, "finish-me") is JobState.COMPLETED  # graceful: the job finished
        assert "Traceback" not in supervised.stderr.read().decode()  # type: ignore[union-attr]
        again = cli("worker", "stop")
        assert again.returncode == 0 and "No workers are running" in again.stderr
        # --all-hosts goes through the database too.
        others = workers.start(2)
        wait_for(lambda: len(store.status(clean).workers) == 2, timeout=30,
                 message="two more workers")
        everywhere = cli("worker", "stop", "--all-hosts", "--timeout", "30")
        assert everywhere.returncode == 0 and "on the fleet" in everywhere.stdout
        assert all(p.wait(30) == 0 for p in others)
        assert cli("worker", "stop", "--host", "x", "--all-hosts").returncode == 2
    finally:
        if supervised.poll() is None:
            os.killpg(supervised.pid, 15)
            supervised.wait(30)


def test_enqueue_follow_behaves_like_running_the_command_remotely(clean, cli, workers):
    fast(cli)
    workers.start(1)
    ran = cli("enqueue", '{"command": "echo out; echo err >&2; exit 7", "max_retries": 0}',
              "--follow")
    assert ran.returncode == 7
    assert ran.stdout == "out\nerr\n"
    ok = cli("enqueue", '{"command": "echo fine"}', "--follow")
    assert (ok.returncode, ok.stdout) == (0, "fine\n")
    waited = cli("enqueue", '[{"command": "true"}, {"command": "exit 1", "max_retries": 0}]',
                 "--wait")
    assert waited.returncode == 1 and "dead" in waited.stdout
    assert cli("enqueue", '{"command": "true"}', "--wait").returncode == 0
    assert cli("enqueue", '{"command": "true"}', "--wait", "--follow").returncode == 2


def test_cancelled_jobs_are_pruned_and_ended_runs_lose_their_live_chunks(clean):
    store.enqueue_jobs(clean, specs=[JobSpec("old", "true"), JobSpec("live", "true")])
    store.cancel_jobs(clean, ids=["old"], signal=15)
    [run] = store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30)
    assert run.id == "live"
    store.append_output(clean, chunks=[("live", run.run_id, "a\n"), ("live", run.run_id, "b\n")])
    read = store.read_output(clean, job_id="live")
    assert [text for _, text in read.chunks] == ["a\n", "b\n"]
    assert store.delete_finished_output(clean, older_than=0) == 0  # still running: kept
    store.finish_runs(clean, results=[store.RunResult("live", run.run_id, JobState.COMPLETED, 0,
                                                      None, "a\nb\n", False, 0.1)], worker_id=1)
    assert store.delete_finished_output(clean, older_than=0) == 2
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET finished_at = now() - interval '2 days'"))
        conn.execute(sa.text("UPDATE metrics SET finished_at = now() - interval '2 days'"))
    assert store.prune(clean, older_than=86400) == (2, 1)
    assert store.count_states(clean)["cancelled"] == 0
