"""`/metrics`: parsed with prometheus_client's own parser and checked against the database."""

from __future__ import annotations

import math

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.dashboard.helpers import run_jobs, scalar, seed_standard


def scrape(client) -> dict[str, dict[tuple, float]]:
    """{sample name: {sorted label items: value}} from one scrape."""
    res = client.get("/metrics")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(res.text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_metrics_match_the_database(clean, client):
    seed_standard(clean)
    store.register_worker(clean, host="a", pid=1, version="t", concurrency=1)
    store.register_worker(clean, host="b", pid=2, version="t", concurrency=1)
    m = scrape(client)

    for state in ("pending", "processing", "completed", "failed", "dead"):
        expected = scalar(clean, "SELECT count(*) FROM jobs WHERE state = :s", s=state)
        assert m["queuectl_jobs"][(("queue", "default"), ("state", state))] == expected, state
    for outcome in ("completed", "failed", "dead"):
        expected = scalar(clean, "SELECT count(*) FROM metrics WHERE outcome = :o", o=outcome)
        assert m["queuectl_job_runs_total"][(("outcome", outcome),)] == expected, outcome

    buckets = m["queuectl_job_duration_seconds_bucket"]
    assert len(buckets) == len(store.DURATION_BUCKETS) + 1
    for labels, value in buckets.items():
        le = dict(labels)["le"]
        bound = 1e308 if le == "+Inf" else float(le)
        expected = scalar(clean, "SELECT count(*) FROM metrics WHERE duration <= :b", b=bound)
        assert value == expected, le
    assert m["queuectl_job_duration_seconds_count"][()] == 15
    total = scalar(clean, "SELECT sum(duration) FROM metrics")
    assert math.isclose(m["queuectl_job_duration_seconds_sum"][()], total)

    assert m["queuectl_queue_depth"][(("queue", "default"),)] == scalar(
        clean, "SELECT count(*) FROM jobs WHERE state IN ('pending', 'failed') "
               "AND run_at <= now()") == 3
    oldest = scalar(clean, "SELECT extract(epoch FROM now() - min(run_at)) FROM jobs "
                           "WHERE state = 'pending'")
    assert 0 < m["queuectl_oldest_waiting_seconds"][()] <= float(oldest) + 1
    assert m["queuectl_workers_live"][()] == 2


def test_metrics_on_an_empty_queue(clean, client):
    m = scrape(client)
    assert set(m["queuectl_jobs"].values()) == {0}
    assert m["queuectl_job_duration_seconds_count"][()] == 0
    assert m["queuectl_oldest_waiting_seconds"][()] == 0
    assert m["queuectl_workers_live"][()] == 0


def test_counters_follow_new_runs(clean, client):
    run_jobs(clean, [(JobSpec("first", "true"), JobState.COMPLETED, "", 0.1)])
    before = scrape(client)["queuectl_job_runs_total"][(("outcome", "completed"),)]
    run_jobs(clean, [(JobSpec("late", "true"), JobState.COMPLETED, "", 0.2)])
    after = scrape(client)["queuectl_job_runs_total"][(("outcome", "completed"),)]
    assert after == before + 1


def test_job_counts_and_depth_carry_the_queue_label(clean, client):
    with clean.begin() as conn:
        conn.execute(sa.text("TRUNCATE queues"))
    store.enqueue_jobs(clean, specs=[JobSpec(f"qm-{i}", "true", queue="mail") for i in range(3)])
    store.set_queue_limits(clean, name="idle", concurrency=1)
    m = scrape(client)
    assert m["queuectl_jobs"][(("queue", "mail"), ("state", "pending"))] == 3
    assert m["queuectl_jobs"][(("queue", "idle"), ("state", "pending"))] == 0
    assert m["queuectl_queue_depth"][(("queue", "mail"),)] == 3
    assert m["queuectl_queue_depth"][(("queue", "idle"),)] == 0
