"""Prometheus metrics for `/metrics`, read from the store at scrape time.

The collector keeps no state of its own: every scrape asks the database, so several dashboard
processes (or restarts) all report the same numbers. Run counters come from the metrics table
and therefore drop when `queuectl prune` deletes old rows; Prometheus treats that as a
counter reset, which `rate()` and `increase()` handle.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from queuectl import store

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["StoreCollector", "families", "registry_for"]


class StoreCollector(Collector):
    """Jobs by state, runs by outcome, the run-duration histogram, queue depth, the oldest
    waiting job's age and the number of live workers."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        """One snapshot from the store, as metric families (raises QueuectlError if the
        database cannot answer; the route turns that into a 503)."""
        return families(store.collect_metrics(self._engine))


def families(snap: store.MetricsSnapshot) -> Iterator[Metric]:
    """The metric families of one snapshot (the reference page lists them from an empty
    one)."""
    jobs = GaugeMetricFamily("queuectl_jobs", "Jobs in each state, per named queue.",
                             labels=["queue", "state"])
    for queue, counts in sorted(snap.queue_counts.items()):
        for state, n in counts.items():
            jobs.add_metric([queue, state], n)
    yield jobs
    runs = CounterMetricFamily(
        "queuectl_job_runs", "Finished runs by outcome (completed, failed = will retry, "
        "dead = out of retries, cancelled), from the metrics table.", labels=["outcome"])
    for outcome, n in snap.outcomes.items():
        runs.add_metric([outcome], n)
    yield runs
    buckets = [(_le(b), n) for b, n in snap.duration_buckets]
    buckets.append(("+Inf", snap.duration_count))
    yield HistogramMetricFamily(
        "queuectl_job_duration_seconds", "Run durations recorded in the metrics table.",
        buckets=buckets, sum_value=snap.duration_sum)
    depth = GaugeMetricFamily(
        "queuectl_queue_depth", "Jobs due to run now (pending, or failed with their "
        "retry time reached), per named queue.", labels=["queue"])
    for queue, n in sorted(snap.queue_depths.items()):
        depth.add_metric([queue], n)
    yield depth
    yield GaugeMetricFamily(
        "queuectl_oldest_waiting_seconds", "How long the oldest due job has been waiting "
        "(0 when none is waiting).", value=snap.oldest_waiting_age or 0.0)
    yield GaugeMetricFamily(
        "queuectl_workers_live", "Workers that missed fewer than three heartbeats.",
        value=snap.live_workers)


def _le(bound: float) -> str:
    return repr(float(bound))


def registry_for(engine: sa.Engine) -> CollectorRegistry:
    """A registry holding only the store collector (no process metrics of the dashboard)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine))
    return registry
