"""The store against a real PostgreSQL: claim order, fencing, retries, rescue, DLQ."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from queuectl import errors, store
from queuectl.core import backoff
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from queuectl.store.statements import runs as runs_sql
from queuectl.worker import outcomes


def enqueue(engine, *specs):
    return store.enqueue_jobs(engine, specs=list(specs))


def result(claimed, state, delay=0.0, error=None):
    return store.RunResult(claimed.id, claimed.run_id, state, 1 if error else 0, error, "out",
                           False, 0.01, delay)


def test_claim_order_priority_then_run_at_then_id(clean):
    now = datetime.now(UTC)
    enqueue(clean,
            JobSpec("low", "x", priority=0, run_at=now - timedelta(minutes=5)),
            JobSpec("b-high", "x", priority=5, run_at=now - timedelta(minutes=1)),
            JobSpec("a-high", "x", priority=5, run_at=now - timedelta(minutes=1)),
            JobSpec("older-high", "x", priority=5, run_at=now - timedelta(minutes=2)),
            JobSpec("future", "x", priority=9, run_at=now + timedelta(hours=1)))
    order = [store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30)[0].id
             for _ in range(4)]
    assert order == ["older-high", "a-high", "b-high", "low"]
    assert store.claim_jobs(clean, worker_id=1, limit=5, lease_seconds=30) == []


def test_claim_walks_priorities_past_future_jobs(clean):
    # Future jobs at every priority, above and between the due ones, must neither be claimed
    # nor stop the walk; a batch that spans priorities takes the highest due ones first.
    now = datetime.now(UTC)
    past, ahead = now - timedelta(minutes=1), now + timedelta(hours=1)
    enqueue(clean,
            JobSpec("p9-future", "x", priority=9, run_at=ahead),
            JobSpec("p3-late", "x", priority=3, run_at=past),
            JobSpec("p3-early", "x", priority=3, run_at=past - timedelta(minutes=1)),
            JobSpec("p3-future", "x", priority=3, run_at=ahead),
            JobSpec("p1-future", "x", priority=1, run_at=ahead),
            JobSpec("p0", "x", priority=0, run_at=past),
            JobSpec("m2", "x", priority=-2, run_at=past),
            JobSpec("m5-future", "x", priority=-5, run_at=ahead))
    first = store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30)
    assert [c.id for c in first] == ["p3-early"]
    batch = store.claim_jobs(clean, worker_id=1, limit=2, lease_seconds=30)
    assert sorted(c.id for c in batch) == ["p0", "p3-late"]
    assert [c.id for c in store.claim_jobs(clean, worker_id=1, limit=9, lease_seconds=30)] \
        == ["m2"]
    assert store.claim_jobs(clean, worker_id=1, limit=9, lease_seconds=30) == []


def test_the_claim_is_planned_cheap_enough_not_to_be_jit_compiled(clean):
    # JIT compiling the claim costs 40-50 ms per call, for a statement that runs in under
    # one: a backlog of future jobs must not make the planner's estimate cross the threshold.
    with clean.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO jobs (id, command, max_retries, run_at) "
            "SELECT 'f' || g, 'true', 0, now() + interval '1 day' "
            "FROM generate_series(1, 100000) g"))
        conn.execute(sa.text("INSERT INTO queues (name, concurrency) VALUES ('lim', 2)"))
    with clean.connect() as conn:
        conn.execute(sa.text("ANALYZE jobs"))
        threshold = float(conn.execute(sa.text("SHOW jit_above_cost")).scalar_one())
        driver = conn.connection.driver_connection
        for stmt in (runs_sql.job_claim_available, runs_sql.job_finish_and_claim):
            [(plan,)] = driver.execute("EXPLAIN (FORMAT JSON) " + stmt.sql, {
                "worker_id": 1, "limit": 8, "lease": 30, "start_now": 8, "queues": None,
                "ids": [], "run_ids": [], "states": [], "exit_codes": [], "errors": [],
                "outputs": [], "truncated": [], "durations": [], "delays": []}).fetchall()
            assert plan[0]["Plan"]["Total Cost"] < threshold
        conn.rollback()


def test_claim_batch_and_skip_locked(clean):
    enqueue(clean, *[JobSpec(f"j{i}", "x") for i in range(5)])
    with clean.connect() as other:
        other.execute(sa.text("BEGIN"))
        other.execute(sa.text("SELECT 1 FROM jobs WHERE id = 'j0' FOR UPDATE"))
        got = store.claim_jobs(clean, worker_id=1, limit=10, lease_seconds=30)
        other.rollback()
    assert sorted(c.id for c in got) == ["j1", "j2", "j3", "j4"]
    assert {c.attempts for c in got} == {1}
    assert len({c.run_id for c in got}) == 4


def test_finish_is_fenced_on_the_run(clean):
    enqueue(clean, JobSpec("f", "x", max_retries=2))
    first = store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30)[0]
    written = store.finish_runs(clean, results=[result(first, JobState.FAILED, 0, "boom")],
                                worker_id=1)
    assert written == {("f", first.run_id)}
    second = store.claim_jobs(clean, worker_id=2, limit=1, lease_seconds=30)[0]
    assert second.attempts == 2 and second.run_id != first.run_id
    # A late duplicate of the first run's result must not touch the second run.
    stale = store.finish_runs(clean, results=[result(first, JobState.COMPLETED)], worker_id=1)
    assert stale == set()
    assert store.get_job(clean, job_id="f").state is JobState.PROCESSING


def test_failed_job_waits_for_its_backoff(clean):
    enqueue(clean, JobSpec("r", "x", max_retries=1))
    run = store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30)[0]
    store.finish_runs(clean, results=[result(run, JobState.FAILED, 60, "nope")], worker_id=1)
    job = store.get_job(clean, job_id="r")
    assert job.state is JobState.FAILED
    assert (job.run_at - job.finished_at).total_seconds() == pytest.approx(60, abs=0.01)
    assert store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30) == []


def test_rescue_counts_a_lost_run_as_a_failure(clean):
    enqueue(clean, JobSpec("lost", "x", max_retries=0), JobSpec("lost2", "x", max_retries=3))
    runs = store.claim_jobs(clean, worker_id=7, limit=2, lease_seconds=0.01)
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET lease_expires_at = now() - interval '1 s'"))
    expired = store.expired_runs(clean)
    rescued = store.rescue_runs(clean, results=[
        outcomes.lost_run(r, backoff.Policy(2, 10)) for r in expired])
    assert rescued == ["lost", "lost2"]
    dead, failed = store.get_job(clean, job_id="lost"), store.get_job(clean, job_id="lost2")
    assert dead.state is JobState.DEAD and "worker lost" in dead.error
    assert failed.state is JobState.FAILED
    # The lost worker's late results are fenced off.
    late = [result(r, JobState.COMPLETED) for r in runs]
    assert store.finish_runs(clean, results=late, worker_id=7) == set()


def test_requeue_does_not_count_the_attempt(clean):
    enqueue(clean, JobSpec("q", "x"))
    run = store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30)[0]
    assert store.requeue_runs(clean, runs=[(run.id, run.run_id)]) == ["q"]
    job = store.get_job(clean, job_id="q")
    assert job.state is JobState.PENDING and job.attempts == 0


def test_duplicate_id_leaves_existing_job_untouched(clean):
    enqueue(clean, JobSpec("dup", "original"))
    with pytest.raises(errors.DuplicateJob, match="'dup' already exists"):
        enqueue(clean, JobSpec("new", "x"), JobSpec("dup", "replacement"))
    assert store.get_job(clean, job_id="dup").command == "original"
    with pytest.raises(errors.JobNotFound):
        store.get_job(clean, job_id="new")


def test_id_prefixes(clean):
    enqueue(clean, JobSpec("abc1", "x"), JobSpec("abc2", "x"), JobSpec("a_%", "x"))
    assert store.get_job(clean, job_id="abc1").id == "abc1"
    with pytest.raises(errors.AmbiguousId, match="abc1, abc2"):
        store.get_job(clean, job_id="abc")
    assert store.get_job(clean, job_id="a_").id == "a_%"  # wildcards are literal
    with pytest.raises(errors.JobNotFound):
        store.get_job(clean, job_id="zzz")


def test_dlq_retry_resets_attempts_and_keeps_error(clean):
    enqueue(clean, JobSpec("d", "x", max_retries=0))
    run = store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=30)[0]
    store.finish_runs(clean, results=[result(run, JobState.DEAD, 0, "kaput")], worker_id=1)
    with pytest.raises(errors.InvalidState):
        enqueue(clean, JobSpec("p", "x"))
        store.retry_dead(clean, job_id="p")
    job = store.retry_dead(clean, job_id="d")
    assert (job.state, job.attempts, job.error) == (JobState.PENDING, 0, "kaput")
    assert store.retry_all_dead(clean) == 0


def test_tags_filter_and_status(clean):
    enqueue(clean, JobSpec("t1", "x", tags=["nightly", 'we"ird']), JobSpec("t2", "x"))
    assert [j.id for j in store.list_jobs(clean, tag="nightly")] == ["t1"]
    assert [j.id for j in store.list_jobs(clean, tag='we"ird')] == ["t1"]
    status = store.status(clean)
    assert status.counts["pending"] == 2 and status.total == 2


def test_bulk_enqueue_is_all_or_nothing(clean):
    specs = [JobSpec(f"bulk{i}", "true") for i in range(12_000)]
    specs.append(JobSpec("bulk5", "dup"))  # duplicate inside the payload's last batch
    with pytest.raises(errors.DuplicateJob):
        store.enqueue_jobs(clean, specs=specs[:-1] + [JobSpec("bulk11999", "x")])
    assert store.count_states(clean)["pending"] == 0
    store.enqueue_jobs(clean, specs=specs[:-1])
    assert store.count_states(clean)["pending"] == 12_000


def test_claimed_ahead_is_not_counted_as_running_until_it_starts(clean):
    enqueue(clean, *(JobSpec(f"c{i}", "x") for i in range(3)))
    wid = store.register_worker(clean, host="h", pid=1, version="t", concurrency=1)
    runs = store.claim_jobs(clean, worker_id=wid, limit=3, lease_seconds=30, start_now=1)
    status = store.status(clean)
    assert (status.counts["processing"], status.claimed, status.total) == (1, 2, 3)
    assert status.workers[0].running == [runs[0].id]  # BUSY counts started runs only
    store.heartbeat(clean, worker_id=wid, run_ids=[r.run_id for r in runs], lease_seconds=30,
                    running=[runs[1].run_id])
    assert store.status(clean).counts["processing"] == 2
    store.finish_runs(clean, results=[result(runs[2], JobState.COMPLETED)], worker_id=wid)
    done = store.get_job(clean, job_id=runs[2].id)
    assert done.started_at is not None and done.started_at <= done.finished_at
    assert store.status(clean).claimed == 0
