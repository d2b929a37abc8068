"""Helpers shared by the dashboard tests: seeding jobs through the store, checking the database."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.conftest import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
XSS = "<script>alert(1)</script>"


def run_jobs(engine: sa.Engine, plans: list[tuple[JobSpec, JobState, str | None, float]]) -> None:
    """Enqueue each spec, claim it and record its outcome (state, output, duration), through
    the store as a worker would, so the jobs and metrics tables agree. Call it before adding
    jobs meant to stay pending (the claim would take those too)."""
    if not plans:
        return
    store.enqueue_jobs(engine, specs=[p[0] for p in plans])
    claimed = {c.id: c for c in store.claim_jobs(engine, worker_id=1, limit=len(plans),
                                                 lease_seconds=60)}
    results = []
    for spec, state, out, duration in plans:
        c = claimed[spec.id]
        failed = state is not JobState.COMPLETED
        results.append(store.RunResult(
            c.id, c.run_id, state, 3 if failed else 0,
            f"exited with code 3: {out}" if failed else None, out, False, duration, 60.0))
    store.finish_runs(engine, results=results, worker_id=1)


def seed_standard(engine: sa.Engine) -> None:
    """A small but varied queue: completed, failed, dead (one with hostile output), pending."""
    plans = [(JobSpec(f"ok-{i:02d}", f"echo ok {i}", max_retries=1), JobState.COMPLETED,
              f"ok {i}\n", 0.05 * (i + 1)) for i in range(12)]
    plans += [(JobSpec("retrying", "exit 1", max_retries=3), JobState.FAILED, "first try", 0.4)]
    plans += [(JobSpec("xss", f"echo '{XSS}'", max_retries=0), JobState.DEAD, XSS + "\n", 0.02),
              (JobSpec("dead-2", "exit 2", max_retries=0), JobState.DEAD, "boom", 1.5)]
    run_jobs(engine, plans)
    store.enqueue_jobs(engine, specs=[JobSpec(f"wait-{i}", f"sleep {i}") for i in range(3)])


def scalar(engine: sa.Engine, sql: str, **params: object) -> object:
    """One value from a query, for checking the dashboard against the database itself."""
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()




def chromium_path() -> str | None:
    """Debian's chromium (or QUEUECTL_TEST_CHROMIUM), if installed."""
    path = os.environ.get("QUEUECTL_TEST_CHROMIUM", "/usr/bin/chromium")
    return path if os.path.exists(path) else None


def screenshot_path(name: str) -> Path:
    """Where a test saves the screenshot called `name` (the folder is git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"
