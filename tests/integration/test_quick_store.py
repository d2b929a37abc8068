"""The psycopg-only `store.quick` against the engine's store: the same rows in, the same
answers out, and the same statements sent through the one execution helper (`store.execute`),
on a bare connection or on the driver connection under SQLAlchemy's."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from queuectl import errors, store
from queuectl.core.jobspec import JobSpec
from queuectl.store import _common, execute, quick


@pytest.fixture
def conn(clean, db_url):
    with psycopg.connect(db_url) as c:
        yield c


def _specs(prefix: str) -> list[JobSpec]:
    at = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    return [JobSpec(f"{prefix}1", "echo 'a\"b'", max_retries=2, priority=-3, run_at=at,
                    timeout_ms=1500, tags=['x,y', 'q"uote', "back\\slash"]),
            JobSpec(f"{prefix}2", "true"),
            JobSpec(f"{prefix}3", "false", run_at=at + timedelta(days=1), tags=[])]


def _comparable(job) -> dict:
    data = asdict(job)
    for field in ("id", "created_at", "updated_at"):
        data.pop(field)
    if job.id.endswith("2"):  # no run_at given: now(), which differs between the two
        data.pop("run_at")
    return data


def test_quick_enqueue_stores_what_the_store_stores(clean, conn):
    store.set_config(clean, key="max_retries", value=7)
    assert [r.id for r in quick.enqueue(conn, specs=_specs("q"))] == ["q1", "q2", "q3"]
    store.enqueue_jobs(clean, specs=_specs("s"))
    quick_jobs = store.get_jobs(clean, ids=["q1", "q2", "q3"])
    store_jobs = store.get_jobs(clean, ids=["s1", "s2", "s3"])
    assert [_comparable(j) for j in quick_jobs] == [_comparable(j) for j in store_jobs]
    assert quick_jobs[1].max_retries == 7


def test_quick_enqueue_is_all_or_none_on_a_duplicate(clean, conn):
    quick.enqueue(conn, specs=[JobSpec("dup", "true")])
    with pytest.raises(errors.DuplicateJob, match="'dup' already exists"):
        quick.enqueue(conn, specs=[JobSpec("new", "true"), JobSpec("dup", "x")])
    assert store.count_states(clean)["pending"] == 1


def test_quick_enqueue_wakes_workers(clean, conn, db_url):
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {quick.NOTIFY_CHANNEL}")
        quick.enqueue(conn, specs=[JobSpec("wake", "true")])
        assert [n.channel for n in listener.notifies(timeout=5, stop_after=1)] == \
            [_common.NOTIFY_CHANNEL]


def test_quick_status_matches_the_store(clean, conn):
    quick.enqueue(conn, specs=_specs("st"))
    store.claim_jobs(clean, worker_id=store.register_worker(
        clean, host="h", pid=1, version="t", concurrency=2), limit=1, lease_seconds=30)
    fast, slow = quick.status(conn), store.status(clean)
    assert (fast.counts, fast.total, fast.avg_duration) == \
        (slow.counts, slow.total, slow.avg_duration)
    assert fast.workers == slow.workers and fast.workers[0].running


def test_quick_and_the_engine_send_the_same_statements_through_one_helper(clean, conn,
                                                                          monkeypatch):
    sent: list[str] = []
    real = execute.fetch

    def spy(driver, statement, params=None, **kwargs):
        sent.append(statement.name)
        return real(driver, statement, params, **kwargs)

    monkeypatch.setattr(execute, "fetch", spy)
    quick.enqueue(conn, specs=_specs("q"))
    quick.status(conn)
    by_quick, sent[:] = list(sent), []
    store.enqueue_jobs(clean, specs=_specs("s"))
    store.status(clean)
    assert sent == by_quick
    assert "job_insert_many" in sent and "job_count_by_state" in sent
    assert quick.QuickStatus is store.Status
