"""End-to-end scenario: every feature in the README, through the real `queuectl` command.

Run by verify.sh before pytest: `python tests/e2e/scenario.py`. It creates a fresh database on
the test server, walks the features in order (migrate, config, enqueue, priority, workers,
status, list, show, scheduling, retries with backoff, timeouts, DLQ list/retry, stop), prints
PASS or FAIL for each step and drops the database. Exit status 1 if any step failed.

The server is chosen as the test suite chooses it: `QUEUECTL_TEST_DATABASE_URL`, else a Docker
engine (testcontainers), else PostgreSQL at 127.0.0.1:5432 as user postgres.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


class StepFailed(AssertionError):
    """A check inside a step did not hold."""


def check(condition: object, message: str) -> None:
    """Fail the current step with `message` unless `condition` holds."""
    if not condition:
        raise StepFailed(message)


def wait_for(cond: Callable[[], object], timeout: float, message: str) -> object:
    """Poll `cond` until truthy; fail the step after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StepFailed(f"timed out after {timeout:g}s waiting for {message}")
        time.sleep(0.1)


@contextmanager
def server_url() -> Iterator[str]:
    """URL of a server we may create a database on (a container is stopped afterwards)."""
    url = os.environ.get("QUEUECTL_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if os.environ.get("QUEUECTL_TEST_NO_DOCKER") != "1" and shutil.which("docker"):
        try:
            import docker

            docker.from_env(timeout=2).ping()
        except Exception:  # any failure means "no engine": use the local server
            pass
        else:
            from testcontainers.community.postgres import PostgresContainer

            with PostgresContainer("postgres:16-alpine", driver=None) as container:
                yield container.get_connection_url()
            return
    yield "postgresql://postgres@127.0.0.1:5432/postgres"


def _plain(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """Create an empty database (queuectl migrates it) and drop it at the end."""
    name = f"qe2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_plain(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _plain(server, name)
    finally:
        with psycopg.connect(_plain(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Scenario:
    """The steps, sharing one database, one QUEUECTL_HOME and a scratch directory."""

    def __init__(self, db_url: str, work: Path) -> None:
        self.work = work
        exe = Path(sys.executable).parent / "queuectl"
        self.queuectl = str(exe) if exe.exists() else shutil.which("queuectl") or "queuectl"
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "PGDATABASE")}
        self.env.update(QUEUECTL_DATABASE_URL=db_url, QUEUECTL_HOME=str(work / "home"),
                        PYTHONUNBUFFERED="1")
        self.results: list[tuple[str, bool]] = []

    def q(self, *args: str, input: str | None = None, ok: bool = True) -> str:
        """Run `queuectl ARGS`; with ok=True a non-zero exit fails the step. Returns stdout."""
        proc = subprocess.run([self.queuectl, *args], input=input, capture_output=True,
                              text=True, env=self.env, cwd=self.work, timeout=120)
        if ok and proc.returncode != 0:
            raise StepFailed(f"queuectl {' '.join(args)} exited {proc.returncode}: "
                             f"{proc.stderr.strip() or proc.stdout.strip()}")
        if not ok and proc.returncode == 0:
            raise StepFailed(f"queuectl {' '.join(args)} succeeded but should have failed")
        return proc.stdout + ("" if ok else proc.stderr)

    def job(self, job_id: str) -> dict:
        """`queuectl show ID --json`."""
        return json.loads(self.q("show", job_id, "--json"))

    def wait_state(self, job_id: str, state: str, timeout: float = 30) -> dict:
        """Wait until the job is in `state`; returns its JSON."""
        def reached() -> dict | None:
            job = self.job(job_id)
            return job if job["state"] == state else None

        return wait_for(reached, timeout, f"job {job_id} to be {state}")  # type: ignore[return-value]

    def step(self, name: str, body: Callable[[], None]) -> None:
        """Run one step and print its PASS/FAIL line."""
        started = time.monotonic()
        try:
            body()
        except StepFailed as exc:
            ok, detail = False, str(exc)
        except Exception:  # an unexpected error is a failed step, not a crashed scenario
            ok, detail = False, traceback.format_exc().strip().splitlines()[-1]
        else:
            ok, detail = True, ""
        took = time.monotonic() - started
        suffix = f": {detail}" if detail else ""
        print(f"{'PASS' if ok else 'FAIL'}  {name} ({took:.1f}s){suffix}", flush=True)
        self.results.append((name, ok))

    # --- the steps, in README order -------------------------------------------------------

    def migrate(self) -> None:
        check("revision" in self.q("migrate"), "migrate did not report a revision")

    def config(self) -> None:
        check(self.q("config", "set", "max_retries", "2").strip() == "max_retries = 2",
              "config set max_retries")
        self.q("config", "set", "backoff_base", "2")
        self.q("config", "set", "backoff_jitter", "0")  # the retry step measures exact waits
        self.q("config", "set", "poll_interval", "200ms")
        check(self.q("config", "get", "max_retries").strip() == "max_retries = 2",
              "config get max_retries")
        values = json.loads(self.q("config", "list", "--json"))
        check(values["max_retries"] == 2 and values["backoff_base"] == 2,
              f"config list --json shows {values}")
        check("unknown config key" in self.q("config", "set", "nope", "1", ok=False),
              "an unknown key is refused with a clear message")

    def enqueue(self) -> None:
        out = self.q("enqueue", json.dumps({"id": "hello", "command": "echo hello-e2e",
                                            "tags": ["e2e"]}))
        check(out.strip() == "Job hello enqueued", f"enqueue printed {out!r}")
        batch = [{"id": f"batch-{i}", "command": f"echo batch {i}", "tags": ["batch"]}
                 for i in range(3)]
        out = self.q("enqueue", "-", input=json.dumps(batch))
        check(out.count("enqueued") == 3, f"enqueue - (stdin array) printed {out!r}")
        check(self.job("hello")["state"] == "pending", "a new job is pending")
        check("field 'command' is required" in self.q("enqueue", "{}", ok=False),
              "an invalid job is refused with a clear message")

    def priority(self) -> None:
        order = self.work / "order.txt"
        jobs = [{"id": "prio-low", "command": f"echo low >> {order}", "priority": 0},
                {"id": "prio-high", "command": f"echo high >> {order}", "priority": 10}]
        self.q("enqueue", json.dumps(jobs))
        # One worker, one slot: the high-priority job must run before the low one.
        self.q("worker", "start", "--count", "1", "--concurrency", "1", "--daemon")
        self.wait_state("prio-low", "completed")
        lines = order.read_text().split()
        check(lines == ["high", "low"], f"ran in order {lines}, expected high then low")

    def workers_and_status(self) -> None:
        out = self.q("worker", "start", "--count", "2", "--concurrency", "2", "--daemon")
        check("Started 2 worker(s)" in out, f"worker start printed {out!r}")
        for job_id in ("hello", "batch-0", "batch-1", "batch-2"):
            self.wait_state(job_id, "completed")
        status = wait_for(lambda: (s := json.loads(self.q("status", "--json")))
                          and len(s["workers"]) == 3 and s, 20, "3 live workers in status")
        check(status["counts"]["completed"] >= 6, f"status counts {status['counts']}")
        check("Active workers: 3" in self.q("status"), "status table shows 3 workers")

    def list_and_show(self) -> None:
        listed = json.loads(self.q("list", "--tag", "batch", "--json"))
        check(sorted(j["id"] for j in listed) == ["batch-0", "batch-1", "batch-2"],
              f"list --tag batch gave {[j['id'] for j in listed]}")
        done = json.loads(self.q("list", "--state", "completed", "--limit", "2", "--json"))
        check(len(done) == 2 and all(j["state"] == "completed" for j in done),
              "list --state completed --limit 2")
        check("hello" in self.q("list"), "list table shows the job")
        shown = self.q("show", "hello")
        check("hello-e2e" in shown and "completed" in shown, f"show hello printed {shown!r}")

    def scheduling(self) -> None:
        delay = 8.0
        began = time.monotonic()
        run_at = (datetime.now(UTC) + timedelta(seconds=delay)).isoformat()
        self.q("enqueue", json.dumps({"id": "later", "command": "true", "run_at": run_at}))
        # Proving a negative needs a pause: idle workers poll every 200ms, so a job treated
        # as due would be claimed well within these two seconds.
        time.sleep(2)
        state = self.job("later")["state"]
        if time.monotonic() - began < delay:
            check(state == "pending", f"a job scheduled in {delay:g}s is {state} already")
        job = self.wait_state("later", "completed", timeout=30)
        started = datetime.fromisoformat(job["started_at"])
        check(started >= datetime.fromisoformat(run_at), f"started {started} before {run_at}")

    def retries_with_backoff(self) -> None:
        self.q("enqueue", json.dumps({"id": "flaky", "command": "echo boom >&2; exit 3"}))
        began = time.monotonic()
        job = self.wait_state("flaky", "dead", timeout=40)
        took = time.monotonic() - began
        check(job["attempts"] == 3, f"attempts {job['attempts']}, expected 3 (max_retries 2)")
        check(job["exit_code"] == 3, f"exit code {job['exit_code']}")
        # backoff_base 2: waits of 2s and 4s between the three runs.
        check(took >= 5.5, f"three runs took {took:.1f}s, less than the 6s of backoff")

    def timeout(self) -> None:
        self.q("enqueue", json.dumps({"id": "slow", "command": "sleep 30", "timeout": 500,
                                      "max_retries": 0}))
        job = self.wait_state("slow", "dead", timeout=20)
        check("timed out" in (job["error"] or ""), f"error was {job['error']!r}")
        check(job["duration"] is not None and job["duration"] < 10,
              f"duration {job['duration']}: the timeout did not stop it")

    def dlq(self) -> None:
        dead = {j["id"] for j in json.loads(self.q("dlq", "list", "--json"))}
        check(dead == {"flaky", "slow"}, f"dlq list shows {sorted(dead)}")
        check("flaky" in self.q("dlq", "list"), "dlq list table")
        flag = self.work / "fixed"
        self.q("enqueue", json.dumps({"id": "needs-fix", "max_retries": 0,
                                      "command": f"test -f {flag}"}))
        self.wait_state("needs-fix", "dead")
        flag.touch()
        out = self.q("dlq", "retry", "needs-fix")
        check(out.strip() == "Job needs-fix moved back to pending", f"dlq retry printed {out!r}")
        job = self.wait_state("needs-fix", "completed")
        check(job["attempts"] == 1, f"attempts after retry {job['attempts']}, expected reset")
        out = self.q("dlq", "retry", "--all")
        check("2 dead jobs moved back to pending" in out, f"dlq retry --all printed {out!r}")
        self.wait_state("slow", "dead")

    def stop_workers(self) -> None:
        out = self.q("worker", "stop", "--timeout", "60")
        check("Stopping 3 worker(s)" in out, f"worker stop printed {out!r}")
        wait_for(lambda: not json.loads(self.q("status", "--json"))["workers"], 20,
                 "status to show no live workers")

    def run(self) -> bool:
        """All steps in order; True if every one passed."""
        steps = [
            ("migrate: schema at the latest revision", self.migrate),
            ("config: set, get, list, unknown key refused", self.config),
            ("enqueue: one job, an array from stdin, invalid job refused", self.enqueue),
            ("priority: higher priority runs first", self.priority),
            ("workers: start --daemon, jobs complete, status", self.workers_and_status),
            ("list (--state, --tag, --limit) and show", self.list_and_show),
            ("scheduling: run_at in the future waits", self.scheduling),
            ("retries with exponential backoff, then DLQ", self.retries_with_backoff),
            ("timeouts: a job over its timeout is killed", self.timeout),
            ("dlq: list, retry ID, retry --all", self.dlq),
            ("worker stop: graceful, none left", self.stop_workers),
        ]
        try:
            for name, body in steps:
                self.step(name, body)
        finally:
            subprocess.run([self.queuectl, "worker", "stop", "--timeout", "30"], env=self.env,
                           capture_output=True, timeout=90)
        return all(ok for _, ok in self.results)


def main() -> int:
    """Run the scenario; 0 if every step passed."""
    with server_url() as server, fresh_database(server) as db_url, \
            tempfile.TemporaryDirectory(prefix="queuectl-e2e-") as tmp:
        ok = Scenario(db_url, Path(tmp)).run()
    print(f"e2e: {'all steps passed' if ok else 'FAILED'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
