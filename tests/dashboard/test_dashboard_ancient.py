"""The dashboard's figures for a job due since year 1 (or not before 9999): plain numbers in
the overview and on /metrics, no overflow anywhere (`metrics` renders the same age in days)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from queuectl import store
from queuectl.core.jobspec import JobSpec


def test_an_age_since_year_1_is_a_plain_number_in_overview_and_metrics(clean, client):
    store.enqueue_jobs(clean, specs=[JobSpec("ancient", "echo hi"), JobSpec("far", "echo hi")])
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET run_at = CASE id WHEN 'ancient' THEN "
                             "timestamptz '0001-01-01 00:00:00+00' ELSE "
                             "timestamptz '9999-12-31 23:59:59+00' END"))
        age = float(conn.execute(sa.text(
            "SELECT extract(epoch FROM now() - timestamptz '0001-01-01 00:00:00+00')")).scalar())
    overview = client.get("/api/overview")
    assert overview.status_code == 200
    assert overview.json()["oldest_waiting_age"] == pytest.approx(age, abs=60)
    scraped = client.get("/metrics")
    assert scraped.status_code == 200
    [oldest] = [s.value for f in text_string_to_metric_families(scraped.text)
                for s in f.samples if s.name == "queuectl_oldest_waiting_seconds"]
    assert oldest == pytest.approx(age, abs=60)
    listed = client.get("/api/jobs")
    assert listed.status_code == 200
    assert {j["run_at"] for j in listed.json()["jobs"]} == {
        "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00"}
