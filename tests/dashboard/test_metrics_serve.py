"""`queuectl metrics serve` as a real subprocess: Prometheus text and JSON, the outage answer,
the binding rules. (The addresses are this machine's only: a closed local port stands for a
database that is away.)"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from queuectl.dashboard import metrics_server
from tests.conftest import QUEUECTL, ROOT, wait_for
from tests.dashboard.conftest import Server, free_port

AWAY = "postgresql://postgres@127.0.0.1:1/none"  # nothing listens on port 1 here


@pytest.fixture
def serve_metrics(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start the real `queuectl metrics serve ARGS...` on a free port; stopped at teardown."""
    started: list[Server] = []

    def start(*args: str, host: str = "127.0.0.1", token: str | None = None,
              extra_env: dict[str, str] | None = None,
              global_args: tuple[str, ...] = ()) -> Server:
        port = free_port()
        log = tmp_path / f"metrics-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*QUEUECTL, *global_args, "metrics", "serve", "--host", host,
                 "--port", str(port), *args],
                env={**env, **(extra_env or {})}, stdout=out, stderr=subprocess.STDOUT,
                cwd=ROOT)
        server = Server(f"http://127.0.0.1:{port}", proc, log)
        started.append(server)

        def up() -> bool:
            assert proc.poll() is None, f"metrics serve exited: {server.output()}"
            return "Ctrl-C stops" in server.output()

        wait_for(up, timeout=30, message="metrics serve to start")
        return server

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.terminate()
            try:
                s.proc.wait(10)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                s.proc.wait()


def _get(url: str, **kwargs: object) -> httpx.Response:
    return wait_for(lambda: _try(url, **kwargs), timeout=20, message=url)  # type: ignore[return-value]


def _try(url: str, **kwargs: object) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=10, **kwargs)  # type: ignore[arg-type]
    except httpx.TransportError:
        return None


def test_serves_prometheus_text_and_the_metrics_json(cli, clean, serve_metrics):
    assert cli("enqueue", '{"id": "m1", "command": "true"}').returncode == 0
    assert cli("enqueue", '{"id": "m2", "command": "true", "queue": "q2"}').returncode == 0
    server = serve_metrics()
    assert "local connections only" in server.output()
    text = _get(server.url + "/metrics")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert 'queuectl_jobs{queue="default",state="pending"} 1.0' in text.text
    assert 'queuectl_jobs{queue="q2",state="pending"} 1.0' in text.text
    for series in ("queuectl_job_runs_total", "queuectl_job_duration_seconds_bucket",
                   "queuectl_queue_depth", "queuectl_oldest_waiting_seconds",
                   "queuectl_workers_live"):
        assert series in text.text, series
    printed = json.loads(cli("metrics", "--json").stdout)
    served = _get(server.url + "/metrics.json")
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    body = served.json()
    assert set(body) == set(printed)
    assert body["counts"] == printed["counts"] and body["counts"]["pending"] == 2
    assert body["total"] == 2 and body["window_minutes"] == 60
    negotiated = _get(server.url + "/metrics", headers={"Accept": "application/json"})
    assert negotiated.headers["content-type"] == "application/json"
    assert negotiated.json()["counts"] == body["counts"]
    # Prometheus' own Accept header still gets text.
    prom = _get(server.url + "/metrics", headers={
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"})
    assert prom.headers["content-type"].startswith("text/plain")


def test_the_json_window_follows_minutes(clean, serve_metrics):
    server = serve_metrics("--minutes", "15")
    assert _get(server.url + "/metrics.json").json()["window_minutes"] == 15


def test_answers_503_json_with_retry_after_while_the_database_is_away(serve_metrics):
    server = serve_metrics(global_args=("--database-url", AWAY))
    assert "warning: cannot connect" in server.output()
    for path in ("/metrics", "/metrics.json", "/metrics"):
        res = _get(server.url + path)
        assert res.status_code == 503, (path, res.text)
        assert "cannot connect" in res.json()["error"]
    # While it backs off, the gate answers at once, saying when to come back (the backoff
    # is jittered: an early try may find it open, and fail again).
    def gated() -> httpx.Response | None:
        res = _get(server.url + "/metrics.json")
        assert res.status_code == 503
        return res if "retry-after" in res.headers else None

    res = wait_for(gated, timeout=30, message="a Retry-After answer")
    assert int(res.headers["retry-after"]) >= 1 and "next try in" in res.json()["error"]
    assert server.proc.poll() is None


def test_a_non_local_address_needs_a_token(cli, clean, serve_metrics):
    res = cli("metrics", "serve", "--host", "0.0.0.0", "--port", "1")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refusing to serve metrics")
    assert "QUEUECTL_METRICS_TOKEN" in lines[0]
    server = serve_metrics(host="0.0.0.0", extra_env={"QUEUECTL_METRICS_TOKEN": "t0k"})
    assert "token required" in server.output()
    assert _get(server.url + "/metrics").status_code == 401
    ok = _get(server.url + "/metrics.json", headers={"Authorization": "Bearer t0k"})
    assert ok.status_code == 200 and ok.json()["total"] == 0


def test_a_loopback_server_refuses_foreign_host_headers(clean, serve_metrics):
    server = serve_metrics()
    assert _get(server.url + "/metrics", headers={"Host": "evil.example"}).status_code == 421


def test_a_port_in_use_is_one_error_line(cli, clean):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        res = cli("metrics", "serve", "--port", str(port), timeout=60)
    assert res.returncode == 1
    assert res.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in res.stderr and len(res.stderr.splitlines()) == 1


def test_report_options_before_serve_are_refused(cli):
    res = cli("metrics", "-m", "5", "serve")  # would otherwise ignore the -m
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1, res.stderr
    assert "not `metrics serve`" in res.stderr


@pytest.mark.parametrize(("accept", "json_wanted"), [
    ("application/json", True),
    ("text/html, Application/JSON;q=0.9", True),
    ("application/json;q=0", False),
    ("text/plain;version=0.0.4;q=0.5,*/*;q=0.1", False),
    ("", False),
])
def test_wants_json(accept, json_wanted):
    assert metrics_server.wants_json(accept) is json_wanted
