"""Following a job that waits for its `after` jobs (`logs -f`, `enqueue --follow`) with a real
worker: the follower stays until the job's run ends, and a run that did not complete is said
in one line on stderr."""

from __future__ import annotations

import subprocess

import sqlalchemy as sa

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.conftest import QUEUECTL, wait_for
from tests.integration.test_steering import fast


def reading_output(engine: sa.Engine) -> bool:
    """Whether another session has read a job's output (what `logs -f` does at each poll)."""
    with engine.connect() as conn:
        return bool(conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND query LIKE '%FROM job_output%'")).scalar())


def test_logs_follow_of_a_waiting_job_returns_its_output_once_it_ran(clean, cli, env,
                                                                     workers, tmp_path):
    fast(cli)
    go = tmp_path / "go"
    store.enqueue_jobs(clean, specs=[
        JobSpec("first", f"until [ -e {go} ]; do sleep 0.1; done; echo first"),
        JobSpec("second", "echo second ran", after=["first"])])
    assert store.get_job(clean, job_id="second").state is JobState.WAITING
    follower = subprocess.Popen([*QUEUECTL, "logs", "-f", "second"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The follower has read the job (waiting: no worker yet) before any worker starts.
        wait_for(lambda: follower.poll() is not None or reading_output(clean),
                 message="follower reading")
        workers.start(1)
        wait_for(lambda: store.get_job(clean, job_id="first").state is JobState.PROCESSING,
                 message="first running")
        assert follower.poll() is None  # still following the waiting job
        go.touch()
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert (follower.returncode, out, err) == (0, "second ran\n", "")


def test_enqueue_follow_of_a_waiting_job_streams_it_and_exits_with_its_code(clean, cli, env,
                                                                            workers, tmp_path):
    fast(cli)
    go = tmp_path / "go"
    store.enqueue_jobs(clean, specs=[
        JobSpec("first", f"until [ -e {go} ]; do sleep 0.1; done")])
    workers.start(1)
    follower = subprocess.Popen(
        [*QUEUECTL, "enqueue", '{"command": "echo after; exit 4", "after": ["first"], '
                               '"max_retries": 0, "id": "late"}', "--follow"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: follower.poll() is not None or reading_output(clean),
                 message="follower reading")
        assert store.get_job(clean, job_id="late").state is JobState.WAITING
        assert follower.poll() is None
        go.touch()
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert (follower.returncode, out) == (4, "after\n")
    assert err.splitlines() == ["Job late enqueued; following its output",
                                "job late ended dead after run 1 of at most 1: exited with code "
                                "4: after"]


def test_following_a_waiting_job_whose_dependency_is_cancelled_says_so(clean, cli, env):
    store.enqueue_jobs(clean, specs=[JobSpec("first", "sleep 300", run_at=None),
                                     JobSpec("second", "echo never", after=["first"])])
    assert cli("pause", "first").returncode == 0  # held: no worker would take it anyway
    follower = subprocess.Popen([*QUEUECTL, "logs", "-f", "second"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: store.read_output(clean, job_id="second").job.state
                 is JobState.WAITING, message="second waiting")
        assert cli("cancel", "first").returncode == 0
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 1 and out == ""
    assert err == "job second ended cancelled: dependency first ended cancelled\n"
