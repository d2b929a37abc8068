"""The compose stack on a real Docker engine, driven as a user drives it: `./start.sh --docker`,
`docker compose up --scale`, a graceful `docker compose stop worker`, the dashboard with its
token, `./stop.sh` keeping the data and `./stop.sh --purge` deleting it.

Runs whenever a Docker engine with the Compose plugin answers, and skips with the reason
otherwise. The stack gets its own compose project, image tag and dashboard port, so a user's
stack is never touched; its password holds `@ : / # %` to prove that nothing URL-parses it.
The tests build on each other in file order (one stack per module, removed at the end).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "queuectl-test:local"  # kept between runs so that the next build reuses its layers

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _engine_missing() -> str | None:
    """Why the stack cannot run here, or None."""
    why = os.environ.get("QUEUECTL_DOCKER_UNAVAILABLE")  # set by .ci/run when it knows
    if shutil.which("docker") is None:
        return why or "no docker command here"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        return why or "no Docker engine answers ('docker info' failed)"
    if subprocess.run(["docker", "compose", "version"], capture_output=True,
                      timeout=30).returncode != 0:
        return "a Docker engine answers, but without the Compose plugin"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    """One compose project of this repository, and how to drive it."""

    env: dict[str, str]
    project: str
    port: int
    token: str

    def run(self, *argv: str, timeout: float = 600, stdin: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(argv), cwd=ROOT, env=self.env, text=True, input=stdin,
                              capture_output=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, (f"{argv} exited {proc.returncode}:\n{proc.stderr}\n"
                                          f"-- stdout (tail) --\n{proc.stdout[-3000:]}")
        return proc

    def compose(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run("docker", "compose", *args, **kw)

    def queuectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """`queuectl ARGS` inside the app container."""
        return self.compose("exec", "-T", "app", "queuectl", *args, stdin=stdin, timeout=120)

    def status(self) -> dict:
        return json.loads(self.queuectl("status", "--json").stdout)

    def containers(self) -> list[dict]:
        out = self.compose("ps", "--all", "--format", "json").stdout
        # One JSON object per line (Compose >= 2.21) or one array (older releases).
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [r for row in rows for r in (row if isinstance(row, list) else [row])]


    def api(self, path: str, token: str | None = "") -> tuple[int, dict]:
        """GET the dashboard's `path` with the stack's token (or `token`): (status, JSON)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token or self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, {}
        except OSError:
            return 0, {}  # not listening (yet)

    def counts(self) -> dict[str, int]:
        return self.api("/api/overview")[1].get("counts", {})


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if reason := _engine_missing():
        pytest.skip(reason)
    project = f"queuectl-test-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("QUEUECTL_", "POSTGRES_", "COMPOSE_", "PG"))}
    env.update(COMPOSE_PROJECT_NAME=project,
               QUEUECTL_IMAGE=IMAGE, QUEUECTL_DASHBOARD_PORT=str(_free_port()),
               QUEUECTL_DASHBOARD_TOKEN=uuid.uuid4().hex, POSTGRES_PASSWORD="p@ss:w/rd#1%x")
    made = Stack(env, project, int(env["QUEUECTL_DASHBOARD_PORT"]),
                 env["QUEUECTL_DASHBOARD_TOKEN"])
    try:
        yield made
    finally:
        made.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", check=False,
                     timeout=180)


def test_start_brings_the_stack_up_healthy_with_one_worker(stack: Stack) -> None:
    proc = stack.run("./start.sh", "--docker", "--", "queuectl", "status")
    assert "TOTAL" in proc.stdout, proc.stderr
    state = {c["Service"]: c for c in stack.containers()}
    assert state["db"]["Health"] == "healthy" and state["app"]["Health"] == "healthy"
    assert [c["Service"] for c in stack.containers()].count("worker") == 1
    wait_for(lambda: len(stack.status()["workers"]) == 1, timeout=60,
             message="the worker container's worker to register")


def test_dashboard_serves_with_the_token(stack: Stack) -> None:
    # As .env documents it; it keeps running for the tests below, which read the queue through it.
    stack.compose("exec", "--detach", "app", "queuectl", "dashboard", "--host", "0.0.0.0")
    assert wait_for(lambda: stack.api("/api/health")[0], timeout=60,
                    message="the dashboard on the published port") == 200
    assert stack.api("/api/health", token=None)[0] == 401


def test_three_worker_containers_share_sixty_jobs(stack: Stack) -> None:
    stack.compose("up", "--detach", "--scale", "worker=3", "--wait")
    wait_for(lambda: len(stack.api("/api/overview")[1].get("hosts", [])) == 3, timeout=90,
             interval=0.5, message="three worker hosts")
    jobs = [{"id": f"scale-{i:02d}", "command": "sleep 0.3; hostname"} for i in range(60)]
    stack.queuectl("enqueue", "-", stdin=json.dumps(jobs))
    wait_for(lambda: stack.counts().get("completed") == 60, timeout=180, interval=0.5,
             message="60 completed jobs")
    done = [stack.api(f"/api/jobs/{job['id']}")[1] for job in jobs]
    assert all((job["state"], job["exit_code"]) == ("completed", 0) for job in done)
    hosts = {job["output"].strip() for job in done}
    assert len(hosts) >= 2, hosts


def test_stopping_workers_lets_a_running_job_finish(stack: Stack) -> None:
    stack.queuectl("enqueue", json.dumps({"id": "graceful", "command": "sleep 5; echo done"}))
    wait_for(lambda: stack.api("/api/jobs/graceful")[1].get("state") == "processing",
             timeout=60, interval=0.2, message="the sleep 5 job to start")
    stack.compose("stop", "worker", timeout=120)
    job = stack.api("/api/jobs/graceful")[1]
    assert (job["state"], job["exit_code"], job["output"].strip()) == ("completed", 0, "done")
    workers = [c for c in stack.containers() if c["Service"] == "worker"]
    assert workers and all(c["State"] == "exited" and c["ExitCode"] == 0 for c in workers)


def test_verify_runs_inside_the_app_container(stack: Stack) -> None:
    # The parts that broke there: files left out of the image, tests that need root or `ip`
    # (they must skip, saying why), and the local path on a machine with only Python.
    proc = stack.compose("exec", "-T", "-e", "VERIFY_SKIP_E2E=1", "app", "./verify.sh", "-q",
                         "-p", "no:cacheprovider", "-rs", "tests/infra", "tests/robustness",
                         "tests/dashboard/test_dashboard_cli.py", timeout=1800)
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert "a private PostgreSQL cluster needs root" in proc.stdout
    assert "no `ip` command here" in proc.stdout


def test_app_stops_at_once(stack: Stack) -> None:
    started = time.monotonic()
    stack.compose("stop", "app", timeout=60)
    assert time.monotonic() - started < 5  # SIGTERM ends it; no 10 s wait for a kill


def test_stop_keeps_the_data(stack: Stack) -> None:
    proc = stack.run("./stop.sh", "--docker")
    assert "data kept in the volume" in proc.stderr
    assert not [c for c in stack.containers()]
    # Without a command: the shell in the app container (fed from stdin here).
    proc = stack.run("./start.sh", "--docker", stdin="queuectl status --json\n")
    assert json.loads(proc.stdout)["counts"]["completed"] == 61
    assert "stack is up" in proc.stderr
    assert f"http://127.0.0.1:{stack.port}/?token={stack.token}" in proc.stderr


def test_purge_deletes_the_volume(stack: Stack) -> None:
    volume = f"{stack.project}_pgdata"
    assert volume in stack.run("docker", "volume", "ls", "--quiet").stdout.split()
    proc = stack.run("./stop.sh", "--docker", "--purge")
    assert "deleting its volume" in proc.stderr
    assert volume not in stack.run("docker", "volume", "ls", "--quiet").stdout.split()
