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


def dead_a_and_cancelled_b(engine):
    store.enqueue_jobs(engine, specs=[JobSpec("a", "x", max_retries=0),
                                      JobSpec("b", "x", after=["a"])])
    [a] = claim(engine)
    store.finish_runs(engine, results=[done(a, JobState.DEAD)], worker_id=1)
    assert state(engine, "b") is JobState.CANCELLED


def test_retry_alone_of_a_job_cancelled_by_its_dependency_is_refused(clean):
    """It would wait for ever on a job that is finished: refused, naming the dependency."""
    dead_a_and_cancelled_b(clean)
    with pytest.raises(errors.InvalidState, match=r"^cannot retry job b: its dependency a is "
                       r"dead and would never complete; retry both \(queuectl retry a b\)"):
        store.retry_jobs(clean, ids=["b"])
    assert state(clean, "b") is JobState.CANCELLED


def test_a_job_retried_with_its_dead_dependency_waits_for_it(clean):
    dead_a_and_cancelled_b(clean)
    assert [s.state for s in store.retry_jobs(clean, ids=["b", "a"])] == \
        [JobState.WAITING, JobState.PENDING]
    [a] = claim(clean, 5)
    store.finish_runs(clean, results=[done(a)], worker_id=1)
    assert state(clean, "b") is JobState.PENDING


def test_dlq_retry_of_a_dependency_and_the_chain_runs_again(clean):
    dead_a_and_cancelled_b(clean)
    store.retry_dead(clean, job_id="a")
    assert [s.state for s in store.retry_jobs(clean, ids=["b"])] == [JobState.WAITING]
    [a] = claim(clean)
    store.finish_runs(clean, results=[done(a)], worker_id=1)
    assert state(clean, "b") is JobState.PENDING


def test_a_chain_retried_together_runs_again_in_order(clean):
    """Both completed: the dependent waits for the rerun of its dependency, not the old run."""
    store.enqueue_jobs(clean, specs=[JobSpec("a", "x"), JobSpec("b", "x", after=["a"])])
    for _ in range(2):
        [job] = claim(clean)
        store.finish_runs(clean, results=[done(job)], worker_id=1)
    assert [s.state for s in store.retry_jobs(clean, ids=["a", "b"])] == \
        [JobState.PENDING, JobState.WAITING]
    assert [c.id for c in claim(clean, 5)] == ["a"]


def dead_b_after_cancelled_a(engine):
    """b ran after a completed and died; a ran again and was cancelled."""
    store.enqueue_jobs(engine, specs=[JobSpec("a", "x"),
                                      JobSpec("b", "x", after=["a"], max_retries=0)])
    [a] = claim(engine)
    store.finish_runs(engine, results=[done(a)], worker_id=1)
    [b] = claim(engine)
    store.finish_runs(engine, results=[done(b, JobState.DEAD)], worker_id=1)
    store.retry_jobs(engine, ids=["a"])
    store.cancel_jobs(engine, ids=["a"], signal=15)
    assert (state(engine, "a"), state(engine, "b")) == (JobState.CANCELLED, JobState.DEAD)


def test_dlq_retry_leaves_dead_a_job_whose_dependency_is_cancelled(clean):
    dead_b_after_cancelled_a(clean)
    store.enqueue_jobs(clean, specs=[JobSpec("c", "x", max_retries=0)])
    [c] = claim(clean)
    store.finish_runs(clean, results=[done(c, JobState.DEAD)], worker_id=1)
    with pytest.raises(errors.InvalidState, match="its dependency a is cancelled"):
        store.retry_dead(clean, job_id="b")
    assert store.retry_all_dead(clean) == 1  # c; b is left dead, not waiting for ever
    assert (state(clean, "b"), state(clean, "c")) == (JobState.DEAD, JobState.PENDING)


def test_dlq_retry_all_leaves_dead_the_jobs_after_one_it_leaves_dead(clean):
    """d waits for b, which stays dead (its dependency a is cancelled): d stays dead too."""
    dead_b_after_cancelled_a(clean)
    with clean.begin() as conn:  # d died after b completed; b was retried since, and died
        conn.execute(sa.text("INSERT INTO jobs (id, command, max_retries, state) "
                             "VALUES ('d', 'x', 0, 'dead')"))
        conn.execute(sa.text("INSERT INTO job_deps VALUES ('d', 'b')"))
    assert store.retry_all_dead(clean) == 0
    assert (state(clean, "b"), state(clean, "d")) == (JobState.DEAD, JobState.DEAD)


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


def test_prune_settles_jobs_left_waiting_for_ever(clean):
    """Jobs an earlier `retry` left waiting: on a dead job (cancelled for it, and so is the
    job waiting for it), on a job since pruned (runs), on a completed one (runs)."""
    store.enqueue_jobs(clean, specs=[
        JobSpec("dead", "x"), JobSpec("done", "x"), JobSpec("slow", "x"),
        JobSpec("on_dead", "x", after=["dead", "slow"]), JobSpec("on_it", "x", after=["on_dead"]),
        JobSpec("on_gone", "x"), JobSpec("on_done", "x", after=["done"]),
        JobSpec("on_slow", "x", after=["done", "slow"])])
    with clean.begin() as conn:  # without the trigger (has_dependents off), as it was left
        conn.execute(sa.text(
            "UPDATE jobs SET state = CASE id WHEN 'dead' THEN 'dead' WHEN 'done' THEN "
            "'completed' ELSE 'waiting' END, finished_at = now(), has_dependents = false "
            "WHERE id IN ('dead', 'done', 'on_gone')"))
        conn.execute(sa.text("UPDATE jobs SET has_dependents = true WHERE id = 'on_dead'"))
    assert store.prune(clean, older_than=86400) == (0, 0)
    got = {j: (state(clean, j), store.get_job(clean, job_id=j).error)
           for j in ("on_dead", "on_it", "on_gone", "on_done", "on_slow")}
    assert got == {"on_dead": (JobState.CANCELLED, "dependency dead ended dead"),
                   "on_it": (JobState.CANCELLED, "dependency on_dead ended cancelled"),
                   "on_gone": (JobState.PENDING, None), "on_done": (JobState.PENDING, None),
                   "on_slow": (JobState.WAITING, None)}


def test_prune_skips_a_finished_job_that_a_retry_holds(clean, engine, db_url):
    """A retry locks the job and moves it back; deleting it then would leave its dependent
    waiting on no one."""
    store.enqueue_jobs(clean, specs=[JobSpec("old", "x"), JobSpec("next", "x")])
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET state = 'completed', has_dependents = true, "
                             "finished_at = now() - interval '30 days'"))
    with psycopg.connect(db_url) as retry, retry.transaction():
        retry.execute("SELECT 1 FROM jobs WHERE id IN ('old', 'next') FOR UPDATE")
        retry.execute("UPDATE jobs SET state = 'pending' WHERE id = 'old'")
        retry.execute("UPDATE jobs SET state = 'waiting' WHERE id = 'next'")
        retry.execute("INSERT INTO job_deps VALUES ('next', 'old')")
        pruner = threading.Thread(target=store.prune, args=(engine,),
                                  kwargs={"older_than": 86400})
        pruner.start()
        pruner.join(10)
        assert not pruner.is_alive()  # skipped the held rows, did not wait for them
    assert (state(clean, "old"), state(clean, "next")) == (JobState.PENDING, JobState.WAITING)
    assert store.get_job(clean, job_id="next").after == ["old"]
