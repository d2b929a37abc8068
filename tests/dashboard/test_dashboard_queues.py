"""The dashboard's queue API: the list, pause/resume (actions need the action header), and
the queue filter of /api/jobs."""

from __future__ import annotations

import sqlalchemy as sa

from queuectl import store
from queuectl.core.jobspec import JobSpec

ACTION = {"X-Queuectl-Action": "1"}


def test_queue_list_pause_resume_and_job_filter(clean, client):
    with clean.begin() as conn:
        conn.execute(sa.text("TRUNCATE queues"))
    store.enqueue_jobs(clean, specs=[JobSpec("m1", "true", queue="mail"),
                                     JobSpec("d1", "true")])
    names = {q["name"]: q for q in client.get("/api/queues").json()["queues"]}
    assert names["mail"]["pending"] == 1 and names["mail"]["paused"] is False
    assert client.post("/api/queues/mail/pause").status_code == 403  # no action header
    res = client.post("/api/queues/mail/pause", headers=ACTION)
    assert res.status_code == 200 and res.json()["paused"] is True
    res = client.post("/api/queues/mail/resume", headers=ACTION)
    assert res.json()["paused"] is False
    assert client.post("/api/queues/bad%20name/pause", headers=ACTION).status_code == 400
    missing = client.post("/api/queues/nosuch/pause", headers=ACTION)  # no jobs, no settings
    assert missing.status_code == 404 and "no queue named 'nosuch'" in missing.json()["error"]
    assert "nosuch" not in {q["name"] for q in client.get("/api/queues").json()["queues"]}
    jobs = client.get("/api/jobs", params={"queue": "mail"}).json()["jobs"]
    assert [j["id"] for j in jobs] == ["m1"] and jobs[0]["queue"] == "mail"
    assert client.get("/api/jobs", params={"queue": "no way"}).status_code == 400
