"""Steering across hosts: a worker in one network namespace, the CLI in another, PostgreSQL on
the bridge between them. Cancel reaches the job's process group on the other host, and
`logs -f` follows output printed over there, line by line, while the job runs."""

from __future__ import annotations

import os
import subprocess

import pytest
import sqlalchemy as sa
from pgcluster import (
    QUEUECTL,
    ROOT,
    configure,
    engine_for,
    enqueue,
    job_rows,
    report,
    wait_until,
    worker_env,
)
from test_hosts import bridge_pg, net  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


def on_host(ns: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *QUEUECTL, *args], env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def test_cancel_and_follow_a_job_running_on_another_host(
        net, bridge_pg, make_workers, scratch, tmp_path):  # noqa: F811
    url = bridge_pg.create_queue_db()
    engine = engine_for(url)
    env = worker_env(url, tmp_path / "home")
    host_a, host_b = net.hosts[0][0], net.hosts[1][0]
    try:
        configure(engine, heartbeat_interval="0.5s", poll_interval="0.2s")
        pool = make_workers(env)
        pool.start("--concurrency", "2", prefix=["ip", "netns", "exec", host_b])
        wait_until(lambda: "started (id" in pool.logs(), 30, "host B's worker")

        # logs -f on host A sees host B's lines as they are printed, in order. The job goes
        # past its first line only once the follower has shown it: on a loaded machine the
        # follower's start-up alone can outlast a job that does not wait.
        go = scratch / "go"
        enqueue(engine, [{"id": "talk", "command":
                          f"echo line 1; until [ -e {go} ]; do sleep 0.1; done; "
                          "for i in 2 3 4 5 6; do echo line $i; sleep 0.5; done"}])
        follower = subprocess.Popen(["ip", "netns", "exec", host_a, *QUEUECTL, "logs", "-f",
                                     "talk"], env=env, stdout=subprocess.PIPE, text=True,
                                    cwd=ROOT)
        assert follower.stdout is not None
        first = follower.stdout.readline().strip()
        seen = [(first, job_rows(engine)["talk"].state)]
        go.touch()
        seen += [(line.strip(), job_rows(engine)["talk"].state) for line in follower.stdout]
        assert follower.wait(30) == 0
        assert [text for text, _ in seen] == [f"line {i}" for i in range(1, 7)]
        assert seen[0][1] == "processing"  # live, before the job ended

        # cancel on host A stops `sleep 300` on host B within 2 s.
        pidfile = scratch / "pgid"
        enqueue(engine, [{"id": "sleeper", "command": f"echo $$ > {pidfile}; sleep 300"}])
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 20,
                   "the job to start on host B")
        pgid = int(pidfile.read_text())
        result = on_host(host_a, env, "cancel", "sleeper")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "Job sleeper: cancelled"
        wait_until(lambda: not group_alive(pgid), 5, "the process group to be gone")
        row = job_rows(engine)["sleeper"]
        assert (row.state, row.attempts) == ("cancelled", 1)
        # Request to result on the database's clock; the result is written only after the
        # job's process group is gone.
        with engine.connect() as conn:
            gone_in = conn.execute(sa.text(
                "SELECT extract(epoch FROM j.finished_at - c.created_at) FROM jobs j "
                "JOIN controls c ON c.job_id = j.id WHERE j.id = 'sleeper'")).scalar_one()
        assert gone_in < 2.0
        assert "Traceback" not in pool.logs()
        report("steering across hosts (netns)", cancel_to_group_gone=f"{gone_in:.2f}s")
    finally:
        engine.dispose()
