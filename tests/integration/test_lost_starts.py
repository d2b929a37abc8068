"""A never-started run is not an attempt: jobs a worker held claimed but had not started when
it died go back to pending uncounted; a job whose starts keep being lost still ends."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import sqlalchemy as sa

from queuectl import store
from queuectl.core import backoff
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from queuectl.worker import outcomes
from tests.conftest import wait_for

PREFETCHED = ["p1", "p2", "p3"]


def _processing(engine: sa.Engine) -> dict[str, bool]:
    """Processing jobs: id -> started."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT id, started_at IS NOT NULL AS started FROM jobs "
            "WHERE state = 'processing'")).all()
    return {r.id: r.started for r in rows}


def _kill_pidfile(path: Path) -> None:
    try:
        os.kill(int(path.read_text()), signal.SIGKILL)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass


def test_prefetched_jobs_of_a_killed_worker_run_elsewhere_not_dead(
        clean, cli, workers, tmp_path):
    for key, value in {"heartbeat_interval": "0.3s", "lease_timeout": "2s",
                       "poll_interval": "0.2s"}.items():
        assert cli("config", "set", key, value).returncode == 0
    pidfile = tmp_path / "long.pid"
    # Short runs first, so the worker prefetches; then the long job takes the only slot
    # while the max_retries-0 jobs behind it wait, claimed and not started.
    specs = [JobSpec(f"w{i:02}", "true", max_retries=0, priority=20) for i in range(30)]
    specs.append(JobSpec("long", f"echo $$ > {pidfile}; exec sleep 60", max_retries=0,
                         priority=10))
    specs += [JobSpec(p, "true", max_retries=0) for p in PREFETCHED]
    store.enqueue_jobs(clean, specs=specs)
    first = workers.start(1, "--concurrency", "1")[0]
    try:
        wait_for(lambda: _processing(clean) == {"long": True, **dict.fromkeys(PREFETCHED,
                                                                               False)},
                 timeout=30, message="long running, p1..p3 prefetched and not started")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        _kill_pidfile(pidfile)
    workers.start(1, "--concurrency", "1")
    ended = {JobState.COMPLETED, JobState.DEAD}
    wait_for(lambda: all(store.get_job(clean, job_id=p).state in ended for p in PREFETCHED),
             timeout=40, message="the prefetched jobs rescued and ended")
    for p in PREFETCHED:
        job = store.get_job(clean, job_id=p)
        assert (job.state, job.attempts, job.error) == (JobState.COMPLETED, 1, None), p
    long = store.get_job(clean, job_id="long")  # it had started: its lost run counts
    assert long.state is JobState.DEAD and long.attempts == 1
    assert "worker lost" in (long.error or "")


def _lose_a_start(engine: sa.Engine, job_id: str) -> store.ExpiredRun:
    """Claim `job_id` without starting it, let its lease expire, and rescue it."""
    [claimed] = store.claim_jobs(engine, worker_id=7, limit=1, lease_seconds=0.01,
                                 start_now=0)
    assert claimed.id == job_id
    expired: list[store.ExpiredRun] = []

    def found() -> bool:
        expired[:] = store.expired_runs(engine)
        return bool(expired)

    wait_for(found, message="the lease expired")
    [run] = expired
    assert not run.started
    rescued = store.rescue_runs(engine, results=[outcomes.lost_run(run, backoff.Policy())])
    assert rescued == [job_id]
    return run


def test_a_job_whose_starts_are_always_lost_ends_dead_saying_so(clean):
    store.enqueue_jobs(clean, specs=[JobSpec("unlucky", "true", max_retries=1)])
    for n in range(2):  # max_retries + 1 lost starts are forgiven
        run = _lose_a_start(clean, "unlucky")
        assert run.lost_starts == n
        job = store.get_job(clean, job_id="unlucky")
        assert job.state is JobState.PENDING and job.attempts == 0
        assert job.started_at is None and job.error is None
    _lose_a_start(clean, "unlucky")
    job = store.get_job(clean, job_id="unlucky")
    assert job.state is JobState.DEAD
    assert job.attempts == 0 and job.started_at is None
    assert job.error is not None
    assert job.error.startswith("worker lost before the run started, 3 times "
                                "(the job allows 2)")
    with clean.connect() as conn:  # nothing ran: no run was recorded
        assert conn.execute(sa.text("SELECT count(*) FROM metrics")).scalar() == 0
    store.retry_dead(clean, job_id="unlucky")
    with clean.connect() as conn:  # a retried job gets its lost starts back too
        assert conn.execute(sa.text(
            "SELECT lost_starts FROM jobs WHERE id = 'unlucky'")).scalar() == 0
