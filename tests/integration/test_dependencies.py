"""Dependencies in the store against a real PostgreSQL: every path by which a job finishes
(a worker's result, a rescue, cancel, the DLQ) releases or cancels its dependents; the
workers are woken when one is released; races between a finish and an enqueue."""

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import sqlalchemy as sa

from queuectl import errors, store
from queuectl.core import backoff
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from queuectl.store import sql
from queuectl.store.statements import jobs as jobs_sql
from queuectl.worker import outcomes


def state(engine, job_id):
    return store.get_job(engine, job_id=job_id).state


def done(claimed, outcome=JobState.COMPLETED):
    return store.RunResult(claimed.id, claimed.run_id, outcome, 0, None, "", False, 0.01)


def claim(engine, n=1):
    return store.claim_jobs(engine, worker_id=1, limit=n, lease_seconds=30)


def test_a_worker_result_releases_the_dependent_and_wakes_workers(clean, db_url):
    store.enqueue_jobs(clean, specs=[JobSpec("a", "x"), JobSpec("b", "x", after=["a"])])
    [a] = claim(clean, 5)  # b is waiting: not claimable
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {sql.NOTIFY_CHANNEL}")
        store.finish_runs(clean, results=[done(a)], worker_id=1)
        assert [n.payload for n in listener.notifies(timeout=5, stop_after=1)] == [""]
    assert state(clean, "b") is JobState.PENDING
    assert [c.id for c in claim(clean)] == ["b"]


def test_a_scheduled_dependent_wakes_workers_for_its_run_at(clean, db_url):
    later = datetime.now(UTC) + timedelta(hours=1)
    store.enqueue_jobs(clean, specs=[JobSpec("a", "x"),
                                     JobSpec("b", "x", after=["a"], run_at=later)])
    [a] = claim(clean)
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {sql.NOTIFY_CHANNEL}")
        store.finish_runs(clean, results=[done(a)], worker_id=1)
        [note] = listener.notifies(timeout=5, stop_after=1)
    assert float(note.payload) == pytest.approx(later.timestamp(), abs=1e-3)


def test_a_rescue_to_dead_cancels_the_chain(clean):
    store.enqueue_jobs(clean, specs=[JobSpec("lost", "x", max_retries=0),
                                     JobSpec("b", "x", after=["lost"]),
                                     JobSpec("c", "x", after=["b"])])
    claim(clean)
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET lease_expires_at = now() - interval '1 s' "
                             "WHERE state = 'processing'"))
    store.rescue_runs(clean, results=[outcomes.lost_run(r, backoff.Policy(2, 10))
                                      for r in store.expired_runs(clean)])
    assert state(clean, "lost") is JobState.DEAD
    assert store.get_job(clean, job_id="c").error == "dependency b ended cancelled"


def test_dlq_retry_of_a_dependency_and_the_chain_runs_again(clean):
    store.enqueue_jobs(clean, specs=[JobSpec("a", "x", max_retries=0),
                                     JobSpec("b", "x", after=["a"])])
    [a] = claim(clean)
    store.finish_runs(clean, results=[done(a, JobState.DEAD)], worker_id=1)
    assert state(clean, "b") is JobState.CANCELLED
    assert [s.state for s in store.retry_jobs(clean, ids=["b"])] == [JobState.WAITING]
    store.retry_dead(clean, job_id="a")
    [a] = claim(clean)
    store.finish_runs(clean, results=[done(a)], worker_id=1)
    assert state(clean, "b") is JobState.PENDING


def test_a_dependency_finishing_during_an_enqueue_is_not_missed(clean, engine, db_url):
    """The enqueue locks the job it names; a finish waits for it and then releases the new
    dependent (or, finishing first, the enqueue sees it completed)."""
    store.enqueue_jobs(clean, specs=[JobSpec("a", "x")])
    [a] = claim(clean)
    with psycopg.connect(db_url) as enq:
        with enq.transaction():
            enq.execute(jobs_sql.job_lock_dependencies.sql, {"ids": ["a"]})
            finisher = threading.Thread(target=store.finish_runs, args=(engine,), kwargs={
                "results": [done(a)], "worker_id": 1})
            finisher.start()
            finisher.join(0.5)
            assert finisher.is_alive()  # waits for the enqueue's lock
            enq.execute(jobs_sql.job_insert_many.sql, {
                "ids": ["b"], "commands": ["x"], "max_retries": [0], "priorities": [0],
                "run_ats": [None], "timeouts": [None], "tags": ["{}"], "unique_keys": [None],
                "states": ["waiting"], "errors": [None], "has_dependents": [False],
                "queues": None, "retry_on": None, "no_retry_on": None, "backoff_bases": None,
                "cwds": None, "envs": None})
            enq.execute(jobs_sql.job_dep_insert_many.sql, {"job_ids": ["b"], "depends_on": ["a"]})
        finisher.join(10)
    assert state(clean, "b") is JobState.PENDING


def test_retry_refuses_a_key_held_by_another_job(clean):
    store.enqueue_jobs(clean, specs=[JobSpec("old", "x", unique_key="k", max_retries=0)])
    [old] = claim(clean)
    store.finish_runs(clean, results=[done(old, JobState.DEAD)], worker_id=1)
    store.enqueue_jobs(clean, specs=[JobSpec("new", "x", unique_key="k")])
    with pytest.raises(errors.InvalidState, match="job new holds its unique_key 'k'"):
        store.retry_dead(clean, job_id="old")
    assert store.retry_all_dead(clean) == 0  # left dead
    assert state(clean, "old") is JobState.DEAD


def test_prune_takes_a_jobs_dependency_rows_with_it(clean):
    store.enqueue_jobs(clean, specs=[JobSpec("old", "x"), JobSpec("slow", "x"),
                                     JobSpec("both", "x", after=["old", "slow"])])
    [old] = store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30)
    assert old.id == "old"
    store.finish_runs(clean, results=[done(old)], worker_id=1)
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET finished_at = now() - interval '30 days' "
                             "WHERE id = 'old'"))
    assert store.prune(clean, older_than=86400) == (1, 0)
    assert store.get_job(clean, job_id="both").after == ["slow"]
    [slow] = claim(clean)
    store.finish_runs(clean, results=[done(slow)], worker_id=1)
    assert state(clean, "both") is JobState.PENDING
    [both] = claim(clean)
    store.finish_runs(clean, results=[done(both)], worker_id=1)
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET finished_at = now() - interval '30 days'"))
    assert store.prune(clean, older_than=86400)[0] == 2
    with clean.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM job_deps")).scalar() == 0
