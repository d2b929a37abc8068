"""The dashboard's cron API: list, run now, pause, resume; actions need the action header;
unknown or impossible names are 404."""

from __future__ import annotations

import pytest

from queuectl import store

ACTION = {"X-Queuectl-Action": "1"}


@pytest.fixture
def crons(clean):
    with clean.begin() as conn:
        conn.exec_driver_sql("TRUNCATE cron")
    store.add_cron(clean, name="hourly", schedule_text="@hourly", zone="UTC",
                   template='{"command": "echo hi", "priority": 2}')
    return clean


def test_list_run_pause_resume(crons, client):
    listed = client.get("/api/cron").json()["crons"]
    assert [(c["name"], c["schedule"], c["paused"]) for c in listed] == \
        [("hourly", "@hourly", False)]
    job_id = client.post("/api/cron/hourly/run", headers=ACTION).json()["job_id"]
    job = client.get(f"/api/jobs/{job_id}").json()
    assert (job["cron_name"], job["priority"]) == ("hourly", 2)
    paused = client.post("/api/cron/hourly/pause", headers=ACTION).json()
    assert paused["paused"] is True and paused["next_run"] is None
    assert paused["last_job_id"] == job_id
    resumed = client.post("/api/cron/hourly/resume", headers=ACTION).json()
    assert resumed["paused"] is False and resumed["next_run"] is not None


def test_actions_need_the_header_and_a_known_name(crons, client):
    refused = client.post("/api/cron/hourly/run")
    assert refused.status_code == 403
    assert store.list_crons(crons)[0].last_job_id is None
    for name in ("nosuch", "bad%20name", "%00"):
        answer = client.post(f"/api/cron/{name}/pause", headers=ACTION)
        assert answer.status_code == 404, (name, answer.text)
        assert "error" in answer.json()


def test_a_stored_row_this_host_cannot_evaluate_does_not_break_the_list(crons, client):
    with crons.begin() as conn:
        conn.exec_driver_sql("INSERT INTO cron (name, schedule, zone, template) VALUES "
                             "('bad', '0 9 * * *', 'posix/Europe/Paris', '{\"command\": \"x\"}')")
    answer = client.get("/api/cron")
    assert answer.status_code == 200, answer.text
    listed = {c["name"]: c for c in answer.json()["crons"]}
    assert listed["hourly"]["error"] is None and listed["hourly"]["next_run"] is not None
    assert "posix/Europe/Paris" in listed["bad"]["error"] and listed["bad"]["next_run"] is None
