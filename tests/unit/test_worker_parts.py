"""The worker's parts against an in-memory store and runner: no database, no processes."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from queuectl import errors, store
from queuectl.core import backoff
from queuectl.db import reconnect
from queuectl.db.models import JobState
from queuectl.worker import Worker, outcomes
from queuectl.worker.completer import Completer
from queuectl.worker.ports import Settings
from queuectl.worker.producer import Producer, Waker
from queuectl.worker.runner import Outcome
from queuectl.worker.runs import RunTable
from queuectl.worker.upkeep import Upkeep
from tests.conftest import wait_for
from tests.unit.fakes import FakeJob, FakeRunner, FakeStore

log = logging.getLogger("test")


def claimed(job_id: str, run_id: int, attempts: int = 1, max_retries: int = 2) -> store.Claimed:
    return store.Claimed(job_id, f"cmd {job_id}", run_id, attempts, max_retries, None)


def gate(**kw: float) -> reconnect.Gate:
    return reconnect.Gate(name="t", log=log, backoff=reconnect.Backoff(rand=lambda: 1.0, **kw))


class Running:
    """A Worker on a thread, stopped (gracefully) at exit."""

    def __init__(self, db: FakeStore, runner: FakeRunner | None = None, **kw: object) -> None:
        self.runner = runner or FakeRunner()
        self.worker = Worker(db, install_signals=False, runner=self.runner, **kw)  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def __enter__(self) -> Worker:
        self.thread.start()
        return self.worker

    def __exit__(self, *exc: object) -> None:
        self.worker.request_stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


# --- pure parts ------------------------------------------------------------------------------

def test_backoff_is_full_jitter_up_to_the_cap_and_resets():
    b = reconnect.Backoff(first=0.1, cap=10.0, rand=lambda: 1.0)
    assert [round(b.next_delay(), 3) for _ in range(9)] == [
        0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    b.reset()
    assert b.next_delay() == pytest.approx(0.1)
    low = reconnect.Backoff(rand=lambda: 0.0)
    assert low.next_delay() == 0.0  # full jitter: anywhere from zero


def test_gate_refuses_calls_while_backing_off_and_logs_one_line(caplog):
    now = [0.0]
    g = reconnect.Gate(name="w", log=log, clock=lambda: now[0],
                       backoff=reconnect.Backoff(rand=lambda: 1.0))
    attempts = []

    def refused() -> None:
        attempts.append(now[0])
        raise errors.DatabaseUnavailable("refused")

    with caplog.at_level(logging.WARNING):
        for step in range(1000):  # 10 s of a loop turning every 10 ms
            now[0] = step / 100
            with pytest.raises(reconnect.Offline):
                g.call(refused)
    assert len(attempts) <= 8  # 0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3
    assert [r.message for r in caplog.records].count(
        "w: database unavailable (refused); retrying with backoff (at most every 10s)") == 1
    assert len(caplog.records) == 1
    now[0] = 20.0
    assert g.call(lambda: 42) == 42
    assert not g.down and "back after 20.0s" in caplog.records[-1].message


def test_decide_applies_the_retry_policy_beside_the_outcome():
    policy = backoff.Policy(2.0, 100.0)
    ok = Outcome(True, 0, None, "out", False, 0.1)
    bad = Outcome(False, 3, "exited with code 3", "", False, 0.1)
    cut = Outcome(False, None, "interrupted", "", False, 0.1, interrupted=True)
    first = outcomes.decide(claimed("a", 1, attempts=1, max_retries=2), bad, policy)
    assert first.result is not None and first.result.state is JobState.FAILED
    assert first.result.retry_delay == 2.0
    last = outcomes.decide(claimed("a", 2, attempts=3, max_retries=2), bad, policy)
    assert last.result is not None and last.result.state is JobState.DEAD
    done = outcomes.decide(claimed("a", 3), ok, policy)
    assert done.result is not None and done.result.state is JobState.COMPLETED
    assert outcomes.decide(claimed("a", 4), cut, policy).requeue


def test_run_table_hands_runs_to_slots_and_gives_back_lost_ones():
    table = RunTable()
    table.add([claimed("a", 1), claimed("b", 2), claimed("c", 3)])
    assert table.next_to_run() == claimed("a", 1)
    queued, running = table.lost(held={3})
    assert [j.id for j in queued] == ["b"]
    assert [j.id for j, _ in running] == ["a"]
    assert sorted(table.run_ids()) == [1, 3]
    assert [j.id for j in table.unqueue()] == ["c"]
    table.close()
    assert table.next_to_run() is None


def test_producer_prefetches_only_while_runs_are_short():
    p = Producer(FakeStore(), gate(), Waker(), concurrency=4, listen=False)
    assert p.want(held=0) == 4
    for _ in range(5):
        p.observe(0.01)
    assert p.want(held=4) == 12  # PREFETCH_DEPTH (4) per slot
    for _ in range(20):
        p.observe(1.0)
    assert p.want(held=6) == 0  # runs got long: no more than one per slot


def test_producer_wakes_for_a_due_time_once_and_does_not_spin_after_it():
    p = Producer(FakeStore(), gate(), Waker(), concurrency=1, listen=False)
    p.note_due(time.time() + 0.5)  # e.g. a rate-limited queue's next start
    assert 0 < p.idle_timeout(5.0) <= 0.5
    p.next_due = time.time() - 0.01  # passed; the claim at that time got nothing
    timeout = p.idle_timeout(5.0)  # back to (backed-off) polling, not a busy loop
    assert p.next_due is None and 0.25 <= timeout <= 5.0


# --- completing -----------------------------------------------------------------------------

def test_completer_keeps_results_through_an_outage_and_fences_stale_ones():
    db = FakeStore()
    db.add(FakeJob("a", "x"), FakeJob("b", "y"))
    _, jobs = db.finish_and_claim(results=[], worker_id=1, limit=2, lease_seconds=30)
    c = Completer(db, gate(first=0.01, cap=0.01), on_retry_due=lambda due: None)
    ok = Outcome(True, 0, None, "", False, 0.01)
    c.add(outcomes.decide(job, ok, backoff.Policy()) for job in jobs)
    db.jobs["b"].run_id = 999  # "b" was rescued and re-claimed elsewhere meanwhile
    db.down = True
    with pytest.raises(reconnect.Offline):
        c.flush(claim=0, worker_id=1, lease=30)
    assert c.pending() == 2 and sorted(c.run_ids()) == sorted(j.run_id for j in jobs)
    db.down = False
    wait_for(lambda: c._gate.ready(), timeout=2)
    c.flush(claim=0, worker_id=1, lease=30)
    assert db.states()["a"] == "completed" and db.states()["b"] == "processing"
    assert (c.summary.completed, c.summary.stale, c.pending()) == (1, 1, 0)


# --- the whole worker on fakes ----------------------------------------------------------------

def test_worker_runs_every_job_once_and_retries_failures_to_the_dlq():
    db = FakeStore(backoff_base=1.0, backoff_max=0.01)
    db.add(*(FakeJob(f"j{i}", f"ok {i}") for i in range(30)), FakeJob("bad", "fail", max_retries=2))
    runner = FakeRunner({"fail": (7, 0.0)})
    with Running(db, runner, concurrency=3):
        wait_for(lambda: set(db.states().values()) == {"completed", "dead"}, timeout=10)
    assert sorted(runner.ran) == sorted([f"ok {i}" for i in range(30)] + ["fail"] * 3)
    assert db.states()["bad"] == "dead" and db.jobs["bad"].attempts == 3
    assert db.workers == {}  # deregistered on a clean exit


def test_a_notification_wakes_an_idle_worker_before_the_poll_interval():
    db = FakeStore(poll_interval=30.0, heartbeat_interval=30.0)
    with Running(db) as worker:
        wait_for(lambda: db.listeners and worker.worker_id, timeout=5)
        start = time.monotonic()
        db.add(FakeJob("now", "x"))
        wait_for(lambda: db.states()["now"] == "completed", timeout=5)
    assert time.monotonic() - start < 1.0


def test_worker_rides_out_an_outage_with_few_attempts_and_loses_nothing():
    db = FakeStore()
    db.add(FakeJob("slow", "slow"))
    runner = FakeRunner({"slow": (0, 1.0)})
    g = gate(first=0.1, cap=0.5)
    with Running(db, runner, concurrency=1, gate=g) as worker:
        wait_for(lambda: db.states()["slow"] == "processing", timeout=5)
        db.down = True
        calls = db.calls
        wait_for(lambda: worker.completer.pending(), timeout=5)  # finished while away
        time.sleep(1.5)  # the outage itself
        assert db.calls - calls <= 10  # 0.1 + 0.2 + 0.4 + 0.5 + ...: not a loop per turn
        db.down = False
        wait_for(lambda: db.states()["slow"] == "completed", timeout=5)
    assert runner.ran == ["slow"]


def test_hard_stop_puts_running_jobs_back_uncounted():
    db = FakeStore()
    db.add(FakeJob("long", "long"))
    runner = FakeRunner({"long": (0, 30.0)})
    worker = Worker(db, install_signals=False, runner=runner)  # type: ignore[arg-type]
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_for(lambda: runner.ran, timeout=5)
    worker.request_stop()
    worker.request_stop(hard=True)  # as a second signal: kill running jobs
    thread.join(10)
    assert db.states()["long"] == "pending" and db.jobs["long"].attempts == 0
    assert worker.summary.hard_stop and worker.summary.requeued == 1


# --- upkeep ---------------------------------------------------------------------------------

def test_a_leader_that_stops_heartbeating_is_replaced_before_its_lease_ends():
    now = [1000.0]
    db = FakeStore(clock=lambda: now[0])
    settings = Settings(lease_timeout=30.0, heartbeat_interval=1.0)  # leader lease 29 s
    a, b = Upkeep(db, gate()), Upkeep(db, gate())
    db.workers = {1: now[0], 2: now[0]}
    a.tick(1, settings)
    now[0] += 4  # a died 4 s ago (3 missed heartbeats): no longer live, as status says
    db.workers[2] = now[0]
    b.tick(2, settings)
    assert b.leader


def test_only_the_leader_rescues_and_another_takes_over_when_it_stops():
    now = [1000.0]
    db = FakeStore(clock=lambda: now[0])
    settings = Settings(lease_timeout=10.0, heartbeat_interval=2.0)
    a, b = Upkeep(db, gate()), Upkeep(db, gate())
    db.workers = {1: now[0], 2: now[0]}
    db.add(FakeJob("lost", "x"))
    db.finish_and_claim(results=[], worker_id=3, limit=1, lease_seconds=1)
    a.tick(1, settings)
    b.tick(2, settings)
    assert a.leader and not b.leader
    now[0] += 5  # the lease of worker 3's run has expired; a rescues it
    a.tick(1, settings)
    assert db.states()["lost"] == "failed"
    assert "worker lost" in (db.jobs["lost"].error or "")
    now[0] += 9  # a stops renewing (and heartbeating); its leader lease (8 s) runs out
    db.workers[2] = now[0]  # b heartbeats as usual
    b.tick(2, settings)
    assert b.leader
    a.tick(1, settings)
    assert not a.leader


def test_only_the_leader_runs_cron_and_wakes_at_the_next_tick():
    now = [1000.0]
    db = FakeStore(clock=lambda: now[0])
    db.cron_next_in = 2.5
    settings = Settings(lease_timeout=10.0, heartbeat_interval=2.0)
    a, b = Upkeep(db, gate(), clock=lambda: now[0]), Upkeep(db, gate(), clock=lambda: now[0])
    db.workers = {1: now[0], 2: now[0]}
    a.tick(1, settings)
    b.tick(2, settings)
    assert db.cron_passes == 1  # the leader's pass only
    assert b.cron_wait() is None and not b.cron_due()
    assert a.cron_wait() == pytest.approx(2.505) and not a.cron_due()
    now[0] += 2.6
    assert a.cron_due()
    a.cron()
    assert db.cron_passes == 2 and not a.cron_due()
    db.cron_next_in = None  # no schedule left
    a.cron()
    assert a.cron_wait() is None
    a.resign(1)
    assert a.cron_wait() is None


def test_a_worker_loop_wakes_for_the_cron_tick_before_its_heartbeat():
    db = FakeStore(heartbeat_interval=3.0)
    db.cron_next_in = 0.1
    with Running(db):
        wait_for(lambda: db.cron_passes >= 1, timeout=10)  # at the first heartbeat
        first = db.cron_passes
        # Then one pass per announced tick (every 0.1 s), long before the next heartbeat.
        wait_for(lambda: db.cron_passes >= first + 5, timeout=2)


# --- a refusal is not an outage ---------------------------------------------------------------

def test_gate_passes_a_refusal_through_without_backing_off(caplog):
    g = gate()

    def refused() -> None:
        raise errors.DatabaseError("database error at x: no (SQLSTATE P0001)", sqlstate="P0001")

    with pytest.raises(errors.DatabaseError):
        g.call(refused)
    assert not g.down and g.ready()
    with caplog.at_level(logging.WARNING):
        assert g.attempt("the chore", refused) is None
        assert g.attempt("the chore", refused) is None  # logged once a minute, not per try
    assert [r.message for r in caplog.records] == [
        "t: the chore refused by the database (database error at x: no (SQLSTATE P0001)); "
        "carrying on without it"]


def test_completer_writes_a_refused_batch_alone_and_dead_letters_the_one_refused():
    db = FakeStore()
    db.add(*(FakeJob(j, j) for j in ("a", "b", "c")))
    _, jobs = db.finish_and_claim(results=[], worker_id=1, limit=3, lease_seconds=30)
    db.add(FakeJob("next", "next"))
    db.refuse_finish = {"b"}  # e.g. a trigger that raises for this job's finish
    c = Completer(db, gate(), on_retry_due=lambda due: None)
    ok = Outcome(True, 0, None, "", False, 0.01)
    c.add(outcomes.decide(job, ok, backoff.Policy()) for job in jobs)
    claimed = c.flush(claim=1, worker_id=1, lease=30)
    assert [j.id for j in claimed] == ["next"]  # the claim still happens
    assert db.states() == {"a": "completed", "b": "dead", "c": "completed",
                           "next": "processing"}
    assert db.jobs["b"].error == ("the database refused this run's result: database error at "
                                  "fake: job b may not finish (SQLSTATE P0001)")
    assert (c.summary.completed, c.summary.failed, c.pending()) == (2, 1, 0)
    assert not c._gate.down


def test_completer_keeps_a_transiently_refused_result_for_the_next_flush():
    db = FakeStore()
    db.add(FakeJob("a", "a"))
    _, jobs = db.finish_and_claim(results=[], worker_id=1, limit=1, lease_seconds=30)
    c = Completer(db, gate(), on_retry_due=lambda due: None)
    c.add([outcomes.decide(jobs[0], Outcome(True, 0, None, "", False, 0.01), backoff.Policy())])
    real = db.finish_and_claim

    def deadlock(**kw: object) -> object:
        raise errors.DatabaseError("deadlock detected (SQLSTATE 40P01)", sqlstate="40P01",
                                   transient=True)

    db.finish_and_claim = deadlock  # type: ignore[method-assign, assignment]
    assert c.flush(claim=1, worker_id=1, lease=30) == []
    assert c.pending() == 1 and db.states()["a"] == "processing"
    db.finish_and_claim = real  # type: ignore[method-assign]
    c.flush(claim=0, worker_id=1, lease=30)
    assert db.states()["a"] == "completed"


def test_worker_finishes_the_others_and_keeps_claiming_when_one_result_is_refused():
    """A server error that is not a lost connection is never retried as an outage: the
    worker isolates the one refused result, and claims, heartbeats and upkeep go on."""
    db = FakeStore()
    db.add(*(FakeJob(f"j{i}", f"ok {i}") for i in range(12)), FakeJob("bad", "bad"))
    db.refuse_finish = {"bad"}
    g = gate()
    with Running(db, concurrency=4, gate=g):
        wait_for(lambda: db.states()["bad"] == "dead", timeout=10)
        wait_for(lambda: all(s == "completed" for j, s in db.states().items() if j != "bad"),
                 timeout=10)
        beats = dict(db.workers)
        db.add(FakeJob("probe", "probe"))  # claimed after the refusal
        wait_for(lambda: db.states()["probe"] == "completed", timeout=10)
        wait_for(lambda: db.workers != beats, timeout=5)  # still heartbeating
        assert not g.down
    assert "may not finish (SQLSTATE P0001)" in (db.jobs["bad"].error or "")


def test_a_refused_claim_does_not_stop_the_loop_or_count_as_an_outage():
    db = FakeStore()
    db.refuse_claims = True
    g = gate()
    with Running(db, gate=g) as worker:
        wait_for(lambda: worker.worker_id, timeout=5)
        calls = db.calls
        wait_for(lambda: db.calls > calls + 3, timeout=5)  # heartbeats and polls go on
        assert not g.down
        db.refuse_claims = False
        db.add(FakeJob("later", "x"))
        wait_for(lambda: db.states()["later"] == "completed", timeout=10)


def test_the_leader_rescues_the_others_when_one_rescue_is_refused():
    now = [1000.0]
    db = FakeStore(clock=lambda: now[0])
    settings = Settings(lease_timeout=10.0, heartbeat_interval=2.0)
    leader = Upkeep(db, gate())
    db.workers = {1: now[0]}
    db.add(FakeJob("a", "x"), FakeJob("b", "x"), FakeJob("c", "x"))
    db.finish_and_claim(results=[], worker_id=3, limit=3, lease_seconds=1)
    db.refuse_finish = {"b"}
    now[0] += 5
    leader.tick(1, settings)
    assert db.states() == {"a": "failed", "b": "dead", "c": "failed"}
    assert "the database refused its rescue" in (db.jobs["b"].error or "")
