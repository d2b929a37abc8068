"""The fleet: one leader runs upkeep and another takes over when it dies; `worker start`
holds one wake-up connection per host."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import sqlalchemy as sa

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.conftest import QUEUECTL, wait_for


def fleet(cli) -> list[dict]:
    result = cli("status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["workers"]


def leaders(cli) -> list[int]:
    return [w["pid"] for w in fleet(cli) if w["leader"]]


def test_killing_the_leader_hands_upkeep_to_another_worker_that_rescues_its_job(
        clean, cli, workers, tmp_path):
    for key, value in {"heartbeat_interval": "0.3s", "lease_timeout": "2s",
                       "poll_interval": "0.2s", "backoff_base": "1",
                       "backoff_max": "0.1s"}.items():
        assert cli("config", "set", key, value).returncode == 0
    first = workers.start(1)[0]
    wait_for(lambda: leaders(cli) == [first.pid], timeout=20, message="first worker leads")
    marker = tmp_path / "ran-once"  # the first run hangs; the rescued run ends at once
    command = f"if [ -e {marker} ]; then exit 0; fi; touch {marker}; sleep 120"
    store.enqueue_jobs(clean, specs=[JobSpec("long", command, max_retries=3)])
    wait_for(lambda: store.get_job(clean, job_id="long").state is JobState.PROCESSING,
             message="job running on the leader")
    others = workers.start(2)
    wait_for(lambda: len(fleet(cli)) == 3, timeout=20, message="three workers live")
    assert leaders(cli) == [first.pid]  # exactly one leader; the newcomers follow

    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    wait_for(lambda: set(leaders(cli)) & {p.pid for p in others},
             timeout=10, message="another worker leads")
    wait_for(lambda: store.get_job(clean, job_id="long").state is JobState.COMPLETED,
             timeout=30, message="the dead leader's job rescued and completed")
    job = store.get_job(clean, job_id="long")
    assert job.attempts == 2
    with clean.connect() as conn:
        runs = conn.execute(sa.text(
            "SELECT outcome, worker_id FROM metrics ORDER BY id")).all()
    assert [r.outcome for r in runs] == ["failed", "completed"]
    assert runs[0].worker_id is None  # written by the rescue, not by a worker's own result
    assert len(leaders(cli)) == 1


def test_worker_start_holds_one_wakeup_connection_for_its_workers(clean, cli, env, db_url):
    assert cli("config", "set", "poll_interval", "60s").returncode == 0
    proc = subprocess.Popen([*QUEUECTL, "worker", "start", "--count", "3"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_for(lambda: len(fleet(cli)) == 3, timeout=30, message="three workers live")
        database = sa.engine.make_url(db_url).database

        def connections() -> dict[str, int]:
            with clean.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT application_name, count(*) AS n FROM pg_stat_activity "
                    "WHERE datname = :d AND application_name LIKE 'queuectl-%' "
                    "GROUP BY 1"), {"d": database}).all()
            return {r.application_name: r.n for r in rows}

        wait_for(lambda: connections().get("queuectl-listen") == 1, timeout=10,
                 message="the relay's LISTEN connection")
        # Woken through the relay, long before the 60 s poll.
        store.enqueue_jobs(clean, specs=[JobSpec(f"w{i}", "true") for i in range(3)])
        wait_for(lambda: store.count_states(clean)["completed"] == 3, timeout=10,
                 message="jobs started through relayed wake-ups")
        assert connections().get("queuectl-listen") == 1
        assert connections().get("queuectl-worker", 0) <= 3
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
