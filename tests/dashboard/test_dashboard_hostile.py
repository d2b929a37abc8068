"""Hostile requests to the dashboard: odd ids, NULs, nested cursors, redirects, origins."""

from __future__ import annotations

import base64
import json
import socket
import urllib.parse

import pytest

from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.dashboard.conftest import free_port, serve_app
from tests.dashboard.helpers import run_jobs, scalar

ACTION = {"X-Queuectl-Action": "1"}


def test_a_job_whose_id_holds_a_slash_opens_and_retries(clean, client):
    run_jobs(clean, [(JobSpec("a/b", "exit 2", max_retries=0), JobState.DEAD, "x", 0.1)])
    shown = client.get("/api/jobs/a%2Fb")
    assert shown.status_code == 200 and shown.json()["id"] == "a/b"
    retried = client.post("/api/jobs/a%2Fb/retry", headers=ACTION)
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    assert scalar(clean, "SELECT state FROM jobs WHERE id = 'a/b'") == "pending"


def test_an_id_holding_a_slash_and_a_route_word_names_that_job_only(clean, client):
    run_jobs(clean, [(JobSpec(i, "exit 2", max_retries=0), JobState.DEAD, f"out of {i}", 0.1)
                     for i in ("foo", "foo/output", "foo/retry", "foo/cancel")])
    shown = client.get("/api/jobs/foo%2Foutput")
    assert shown.status_code == 200 and shown.json()["id"] == "foo/output"
    assert shown.json()["output"] == "out of foo/output"
    assert client.get("/api/jobs/foo%2Foutput/output").json()["id"] == "foo/output"
    assert client.get("/api/jobs/foo/output").json()["id"] == "foo"  # foo's live output
    # POST to a job's own address is no action, whatever its id ends with.
    for job_id in ("foo%2Fretry", "foo%2Fcancel"):
        assert client.post(f"/api/jobs/{job_id}", headers=ACTION).status_code == 405
    assert scalar(clean, "SELECT count(*) FROM jobs WHERE state = 'dead'") == 4
    retried = client.post("/api/jobs/foo%2Fcancel/retry", headers=ACTION)
    assert retried.status_code == 200 and retried.json()["id"] == "foo/cancel"
    assert scalar(clean, "SELECT string_agg(id, ',') FROM jobs WHERE state = 'pending'") == \
        "foo/cancel"
    assert client.get("/api/jobs/foo%2Fnope").status_code == 404
    assert client.get("/api/jobs/foo/output/more").status_code == 404


@pytest.mark.parametrize("job_id", [".", ".."])
def test_ids_dot_and_dotdot_stored_before_the_rule_open_and_retry(clean, client, job_id):
    # Enqueue refuses them now; through the store (as an older version did) they still go in.
    run_jobs(clean, [(JobSpec(job_id, "exit 2", max_retries=0), JobState.DEAD, "x", 0.1)])
    sent = job_id.replace(".", "%2E")  # "/api/jobs/.." would be resolved before sending
    shown = client.get(f"/api/jobs/{sent}")
    assert shown.status_code == 200 and shown.json()["id"] == job_id
    assert client.get(f"/api/jobs/{sent}/output").json()["id"] == job_id
    retried = client.post(f"/api/jobs/{sent}/retry", headers=ACTION)
    assert retried.status_code == 200 and retried.json()["id"] == job_id
    assert scalar(clean, "SELECT state FROM jobs WHERE id = :i", i=job_id) == "pending"


def test_ids_holding_percent_and_non_ascii_text_round_trip(clean, client):
    ids = ["50%", "a%2Fb", "é/ü", "a/../b", "x?y#z"]
    run_jobs(clean, [(JobSpec(i, "exit 2", max_retries=0), JobState.DEAD, "x", 0.1)
                     for i in ids])
    for job_id in ids:
        res = client.get("/api/jobs/" + urllib.parse.quote(job_id, safe=""))
        assert res.status_code == 200 and res.json()["id"] == job_id, job_id


@pytest.mark.parametrize(("path", "params", "status"), [
    ("/api/jobs", {"q": "a\x00b"}, 400),
    ("/api/jobs/a%00b", {}, 404),
    ("/api/jobs", {"cursor": base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode()},
     400),
    ("/api/jobs", {"cursor": base64.urlsafe_b64encode(
        json.dumps(["2026-01-01T00:00:00", "a\x00"]).encode()).decode()}, 400),
    ("/api/jobs", {"cursor": base64.urlsafe_b64encode(b"[1, 2]").decode()}, 400),
    ("/api/jobs", {"limit": "0"}, 400),
    ("/api/jobs", {"limit": "99999999999999999999"}, 400),
    ("/api/jobs", {"state": "DEAD"}, 200),
])
def test_bad_input_is_a_json_4xx_never_a_database_error(clean, client, path, params, status):
    res = client.get(path, params=params)
    assert res.status_code == status, res.text
    if status >= 400:
        assert set(res.json()) == {"error"} and "database" not in res.json()["error"]


def test_the_schema_documents_every_code_and_the_states(client):
    schema = client.get("/api/openapi.json").json()
    job = schema["paths"]["/api/jobs/{job_id}"]["get"]["responses"]
    assert {"200", "400", "401", "404", "421", "500", "503"} <= set(job)
    retry = schema["paths"]["/api/jobs/{job_id}/retry"]["post"]["responses"]
    assert {"403", "404", "409"} <= set(retry)
    assert "422" not in json.dumps(schema["paths"])
    state = next(p for p in schema["paths"]["/api/jobs"]["get"]["parameters"]
                 if p["name"] == "state")
    assert json.dumps([s.value for s in JobState]) in json.dumps(state["schema"])


def raw_get(port: int, target: str) -> tuple[int, dict[str, str]]:
    """Send a request line exactly as given (HTTP clients normalise `//host/` away)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: dash.example\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), {k.lower(): v for k, v in headers.items()}


@pytest.mark.parametrize("path", ["//evil.com/", "/\\evil.com/", "///evil.com/x"])
def test_token_login_never_redirects_to_another_site(clean, path):
    with serve_app(clean, token="T0ken", local_only=False) as server:
        status, headers = raw_get(server.port, path + "?token=T0ken")
    assert status == 303
    location = headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\")), location


def test_an_origin_with_another_scheme_is_cross_origin(clean, client):
    run_jobs(clean, [(JobSpec("d", "exit 2", max_retries=0), JobState.DEAD, "x", 0.1)])
    host = client.headers["host"]
    res = client.post("/api/dlq/retry", headers={**ACTION, "Origin": f"https://{host}"})
    assert res.status_code == 403
    assert client.post("/api/dlq/retry",
                       headers={**ACTION, "Origin": f"http://{host}"}).status_code == 200


def test_a_port_in_use_is_one_error_line_before_any_banner(cli, clean):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        res = cli("dashboard", "--port", str(port), timeout=60)
    assert res.returncode == 1
    assert res.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in res.stderr and len(res.stderr.splitlines()) == 1


@pytest.mark.parametrize("token", ["héllo", "two words", "tab\there"])
def test_a_token_that_cannot_travel_in_a_header_is_refused(cli, token):
    res = cli("dashboard", "--port", str(free_port()), "--token", token)
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1
    assert "visible ASCII" in res.stderr
