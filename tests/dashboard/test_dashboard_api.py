"""The dashboard's JSON API against a real PostgreSQL (in-process, through FastAPI's client)."""

from __future__ import annotations

import statistics
import time

import sqlalchemy as sa

from queuectl import db, settings, store
from queuectl.core import configkeys
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.dashboard.conftest import serve_app
from tests.dashboard.helpers import XSS, scalar, seed_standard

ACTION = {"X-Queuectl-Action": "1"}


def db_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT state, count(*) FROM jobs GROUP BY state")).all()
    return {state: n for state, n in rows}


def test_overview_matches_the_database(clean, client):
    seed_standard(clean)
    store.register_worker(clean, host="host-a", pid=101, version="t", concurrency=2)
    ov = client.get("/api/overview").json()

    expected = db_counts(clean)
    assert {s: n for s, n in ov["counts"].items() if n} == expected
    assert ov["total"] == sum(expected.values()) == 18
    assert ov["queue_depth"] == 3  # the three waiting jobs; "retrying" waits for its backoff
    assert ov["oldest_waiting_age"] >= 0
    assert len(ov["throughput"]) == 60
    assert sum(m["completed"] for m in ov["throughput"]) == 12
    assert sum(m["failed"] + m["dead"] for m in ov["throughput"]) == 3
    assert ov["failure_rate"] == 3 / 15
    durations = [0.05 * (i + 1) for i in range(12)]
    assert abs(ov["avg_duration"] - statistics.mean(durations)) < 1e-9
    p95 = scalar(clean, "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) "
                        "FROM metrics WHERE outcome = 'completed'")
    assert abs(ov["p95_duration"] - p95) < 1e-9 and 0.55 < ov["p95_duration"] <= 0.6
    assert [h["host"] for h in ov["hosts"]] == ["host-a"]
    assert ov["hosts"][0]["workers"][0]["pid"] == 101


def test_overview_shows_what_each_worker_runs(clean, client):
    wid = store.register_worker(clean, host="h1", pid=7, version="t", concurrency=1)
    store.enqueue_jobs(clean, specs=[JobSpec("busy", "sleep 60")])
    store.claim_jobs(clean, worker_id=wid, limit=1, lease_seconds=60)
    worker = client.get("/api/overview").json()["hosts"][0]["workers"][0]
    assert [r["id"] for r in worker["running"]] == ["busy"]
    assert worker["running"][0]["command"] == "sleep 60"


def test_jobs_filter_search_and_detail(clean, client):
    seed_standard(clean)
    dead = client.get("/api/jobs", params={"state": "dead"}).json()["jobs"]
    assert {j["id"] for j in dead} == {"xss", "dead-2"}
    assert all(j["output"] is None for j in dead)  # lists never carry output
    by_command = client.get("/api/jobs", params={"q": "ECHO OK 1"}).json()["jobs"]
    assert {j["id"] for j in by_command} == {"ok-01", "ok-10", "ok-11"}
    by_id = client.get("/api/jobs", params={"q": "wait-"}).json()["jobs"]
    assert {j["id"] for j in by_id} == {"wait-0", "wait-1", "wait-2"}
    literal = client.get("/api/jobs", params={"q": "%"}).json()["jobs"]
    assert literal == []  # LIKE wildcards are matched literally

    job = client.get("/api/jobs/xss").json()
    assert job["output"] == XSS + "\n" and job["state"] == "dead" and job["exit_code"] == 3
    assert job["error"].startswith("exited with code 3")
    assert client.get("/api/jobs/ok-0").status_code == 400  # ambiguous prefix
    missing = client.get("/api/jobs/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_keyset_pages_cover_every_job_once(clean, client):
    store.enqueue_jobs(clean, specs=[JobSpec(f"p{i:03d}", "true") for i in range(120)])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/jobs", params=params).json()
        seen += [j["id"] for j in page["jobs"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 120 and set(seen) == {f"p{i:03d}" for i in range(120)}
    # Newest first: same created_at (one transaction), then id descending.
    assert seen == sorted(seen, reverse=True)


def test_bad_parameters_are_400_with_one_message(clean, client):
    bad_state = client.get("/api/jobs", params={"state": "sleeping"})
    assert bad_state.status_code == 400 and "unknown state" in bad_state.json()["error"]
    bad_cursor = client.get("/api/jobs", params={"cursor": "!!!"})
    assert bad_cursor.status_code == 400 and "cursor" in bad_cursor.json()["error"]
    assert client.get("/api/jobs", params={"limit": 0}).status_code == 400


def test_retry_one_and_all(clean, client):
    seed_standard(clean)
    res = client.post("/api/jobs/xss/retry", headers=ACTION)
    assert res.status_code == 200 and res.json()["state"] == "pending"
    assert scalar(clean, "SELECT state FROM jobs WHERE id = 'xss'") == "pending"
    again = client.post("/api/jobs/xss/retry", headers=ACTION)
    assert again.status_code == 409 and "not dead" in again.json()["error"]
    res = client.post("/api/dlq/retry", headers=ACTION)
    assert res.json() == {"retried": 1}
    assert scalar(clean, "SELECT count(*) FROM jobs WHERE state = 'dead'") == 0


def test_job_answers_tell_the_current_run_from_the_last_one(clean, client):
    store.enqueue_jobs(clean, specs=[JobSpec("again", "exit 1")])
    [first] = store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=60)
    store.finish_runs(clean, results=[store.RunResult(
        "again", first.run_id, JobState.FAILED, 1, "exited with code 1", "", False, 0.5,
        retry_delay=0.0)], worker_id=1)
    [second] = store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=60)
    job = client.get("/api/jobs/again").json()
    assert job["current_run"]["number"] == 2 and job["current_run"]["at_most"] == 4
    assert job["current_run"]["started_at"] is not None
    assert job["last_run"]["finished_at"] == job["finished_at"] is not None
    assert (job["last_run"]["duration"], job["last_run"]["exit_code"]) == (0.5, 1)
    assert (job["attempts"], job["duration"], job["exit_code"]) == (2, 0.5, 1)  # as stored
    store.enqueue_jobs(clean, specs=[JobSpec("new", "true")])
    fresh = client.get("/api/jobs/new").json()
    assert (fresh["current_run"], fresh["last_run"]) == (None, None)
    store.finish_runs(clean, results=[store.RunResult(
        "again", second.run_id, JobState.DEAD, 2, "exited with code 2", "", False, 0.25)],
        worker_id=1)
    retried = client.post("/api/jobs/again/retry", headers=ACTION).json()  # the retry answer
    assert (retried["state"], retried["attempts"], retried["current_run"]) == ("pending", 0, None)
    assert (retried["last_run"]["duration"], retried["last_run"]["exit_code"]) == (0.25, 2)


def test_actions_refuse_cross_site_requests(clean, client):
    seed_standard(clean)
    # Actions are POST only; a GET of one does nothing, and "xss%2Fretry" is a job id (none).
    assert client.get("/api/jobs/xss/retry").status_code == 405
    assert client.get("/api/jobs/xss%2Fretry").status_code == 404
    assert scalar(clean, "SELECT state FROM jobs WHERE id = 'xss'") == "dead"
    no_header = client.post("/api/jobs/xss/retry")
    assert no_header.status_code == 403 and "X-Queuectl-Action" in no_header.json()["error"]
    foreign = client.post("/api/dlq/retry", headers={**ACTION, "Origin": "https://evil.example"})
    assert foreign.status_code == 403
    opaque = client.post("/api/dlq/retry", headers={**ACTION, "Origin": "null"})
    assert opaque.status_code == 403
    assert scalar(clean, "SELECT count(*) FROM jobs WHERE state = 'dead'") == 2
    same = client.post("/api/jobs/xss/retry",
                       headers={**ACTION, "Origin": f"http://{client.headers['host']}"})
    assert same.status_code == 200


def test_local_dashboard_refuses_foreign_host_headers(clean, client):
    # A page on another site that rebinds its DNS name to 127.0.0.1 sends its own Host.
    assert client.get("/api/overview", headers={"Host": "evil.example"}).status_code == 421
    assert client.get("/api/overview", headers={"Host": "localhost:3000"}).status_code == 200
    assert client.get("/api/overview", headers={"Host": "[::1]:3000"}).status_code == 200


def test_config_lists_current_settings(clean, client):
    store.set_config(clean, key="max_retries", value=7)
    rows = {s["key"]: s for s in client.get("/api/config").json()["settings"]}
    assert set(rows) == set(configkeys.KEYS)
    assert rows["max_retries"]["value"] == "7" and rows["max_retries"]["default"] == "3"
    assert rows["lease_timeout"]["unit"] == "s"


def test_openapi_schema_and_security_headers(clean, client):
    res = client.get("/api/openapi.json")
    paths = res.json()["paths"]
    assert {"/api/overview", "/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/retry",
            "/api/dlq/retry", "/api/config", "/metrics"} <= set(paths)
    assert "post" in paths["/api/dlq/retry"]
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert client.get("/docs").status_code == 404  # Swagger UI would need a CDN


def test_token_bearer_cookie_and_query(clean):
    with serve_app(clean, token="s3cret", local_only=False) as server, \
            server.client(host="dash.example") as c:
        assert c.get("/api/overview").status_code == 401
        assert c.get("/metrics").status_code == 401
        assert c.get("/").status_code == 401
        assert c.get("/api/overview", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get("/api/overview",
                     headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/?token=wrong").status_code == 401
        login = c.get("/?token=s3cret")
        assert login.status_code == 303 and login.headers["location"] == "/"
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        # The client now holds the cookie, as a browser would.
        assert c.get("/api/overview").status_code == 200
        assert c.post("/api/dlq/retry").status_code == 403  # still needs the action header
        assert c.post("/api/dlq/retry", headers=ACTION).status_code == 200


def test_unreachable_database_gives_503_and_keeps_serving(clean):
    target = settings.resolve_database("postgresql://postgres@127.0.0.1:1/nowhere")
    engine = db.create_engine(target, pooled=True)
    with serve_app(engine) as server, server.client() as c:
        for path in ("/api/overview", "/api/jobs", "/api/config", "/metrics"):
            res = c.get(path)
            assert res.status_code == 503, path
            assert "cannot connect" in res.json()["error"]
        assert c.get("/static/app.js").status_code == 200
        assert c.post("/api/dlq/retry", headers=ACTION).status_code == 503
    engine.dispose()


def test_slow_database_gives_503_within_the_statement_timeout(clean, db_url):
    engine = db.create_engine(settings.resolve_database(db_url), pooled=True)
    store.limit_statement_time(engine, seconds=0.5)
    with clean.connect() as locker, serve_app(engine) as server, server.client() as c:
        locker.execute(sa.text("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"))
        began = time.monotonic()
        res = c.get("/api/overview")
        assert res.status_code == 503 and "statement timeout" in res.json()["error"]
        assert time.monotonic() - began < 5
        locker.rollback()
        assert c.get("/api/overview").status_code == 200  # recovers by itself
    engine.dispose()


def test_states_enum_covers_the_page_filters():
    assert [s.value for s in JobState] == ["pending", "processing", "completed", "failed", "dead",
                                           "cancelled", "held", "waiting"]


def test_job_shows_what_it_waits_for(clean, client):
    store.enqueue_jobs(clean, specs=[JobSpec("a", "true"), JobSpec("b", "true", after=["a"]),
                                     JobSpec("c", "true", unique_key="k", after=["a", "b"])])
    job = client.get("/api/jobs/c").json()
    assert (job["state"], job["unique_key"], job["after"]) == ("waiting", "k", ["a", "b"])
    assert job["dependencies"] == [{"id": "a", "state": "pending"},
                                   {"id": "b", "state": "waiting"}]
    page = client.get("/api/jobs", params={"state": "waiting"}).json()
    assert sorted(j["id"] for j in page["jobs"]) == ["b", "c"]
    assert client.get("/api/jobs/a").json()["dependencies"] == []
