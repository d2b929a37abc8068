"""The `unique_key` and `after` job fields through the real CLI, with real worker processes:
one job per key under concurrent enqueues, chains that run in order, and cancellation down a
chain when a job dies."""

import json
import subprocess

import sqlalchemy as sa

from queuectl import store
from queuectl.db.models import JobState
from tests.cli.checks import one_error_line
from tests.conftest import QUEUECTL, wait_for


def _jobs(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM jobs")).mappings().all()
    return {r["id"]: dict(r) for r in rows}


def _state(engine, job_id: str) -> str:
    return _jobs(engine)[job_id]["state"]


# --- unique_key -------------------------------------------------------------------------------

def test_twenty_concurrent_enqueues_of_one_key_create_one_job(clean, env):
    payload = '{"command": "true", "unique_key": "nightly"}'
    procs = [subprocess.Popen([*QUEUECTL, "enqueue", payload], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(20)]
    outputs = [(p.wait(60), *p.communicate()) for p in procs]
    assert [rc for rc, _, _ in outputs] == [0] * 20, outputs
    jobs = _jobs(clean)
    assert len(jobs) == 1
    [job_id] = jobs
    lines = sorted(out.strip() for _, out, _ in outputs)
    assert lines.count(f"Job {job_id} enqueued") == 1
    assert lines.count(f"Job {job_id} already enqueued (unique_key nightly)") == 19


def test_key_is_free_again_once_the_job_finished(clean, cli, workers):
    assert cli("enqueue", '{"id": "k1", "command": "true", "unique_key": "k"}').stdout == \
        "Job k1 enqueued\n"
    again = cli("enqueue", '{"id": "k2", "command": "true", "unique_key": "k"}')
    assert (again.returncode, again.stdout) == (0, "Job k1 already enqueued (unique_key k)\n")
    workers.start(1)
    wait_for(lambda: _state(clean, "k1") == "completed")
    assert cli("enqueue", '{"id": "k3", "command": "sleep 30", "unique_key": "k"}').stdout == \
        "Job k3 enqueued\n"
    assert cli("cancel", "k3").returncode == 0
    wait_for(lambda: _state(clean, "k3") == "cancelled")
    assert cli("enqueue", '{"id": "k4", "command": "true", "unique_key": "k", '
               '"run_at": "2999-01-01T00:00:00Z"}').stdout == "Job k4 enqueued\n"
    # A finished job whose key another job holds now is not given another chance.
    line = one_error_line(cli("retry", "k1"), 1)
    assert "job k4 holds its unique_key 'k'" in line


def test_the_library_path_resolves_duplicates_the_same_way(clean):
    from queuectl.core.jobspec import JobSpec

    first = store.enqueue_jobs(clean, specs=[JobSpec("s1", "true", unique_key="lib")])
    second = store.enqueue_jobs(clean, specs=[JobSpec("s2", "true", unique_key="lib"),
                                              JobSpec("s3", "true", unique_key="lib")])
    assert [(r.id, r.duplicate) for r in first + second] == \
        [("s1", False), ("s1", True), ("s1", True)]


# --- after ------------------------------------------------------------------------------------

def test_chain_runs_in_order(clean, cli, workers):
    payload = json.dumps([
        {"id": "c", "command": "sleep 0.2", "after": ["b"]},
        {"id": "b", "command": "sleep 0.2", "after": ["a"]},
        {"id": "a", "command": "sleep 0.2"},
    ])
    assert cli("enqueue", "-", input=payload).stdout.splitlines() == [
        "Job c enqueued, waiting for b", "Job b enqueued, waiting for a", "Job a enqueued"]
    show = cli("show", "c").stdout
    assert "waiting for: b (waiting)" in show
    assert cli("list", "--state", "waiting").stdout.count("waiting") == 2
    workers.start(2, "--concurrency", "2")
    wait_for(lambda: _state(clean, "c") == "completed")
    jobs = _jobs(clean)
    assert jobs["a"]["finished_at"] <= jobs["b"]["started_at"]
    assert jobs["b"]["finished_at"] <= jobs["c"]["started_at"]
    assert json.loads(cli("show", "--json", "c").stdout)["after"] == ["b"]


def test_a_dead_job_cancels_its_chain_without_running_it(clean, cli, workers, tmp_path):
    ran = tmp_path / "ran"
    payload = json.dumps([
        {"id": "a", "command": "exit 1", "max_retries": 0},
        {"id": "b", "command": f"touch {ran}", "after": ["a"]},
        {"id": "c", "command": f"touch {ran}", "after": ["b"]},
        {"id": "d", "command": "true", "after": ["a", "c"]},
    ])
    cli("enqueue", "-", input=payload)
    workers.start(1)
    wait_for(lambda: _state(clean, "d") == "cancelled")
    jobs = _jobs(clean)
    assert jobs["a"]["state"] == "dead"
    assert (jobs["b"]["state"], jobs["b"]["error"]) == ("cancelled", "dependency a ended dead")
    assert (jobs["c"]["state"], jobs["c"]["error"]) == ("cancelled",
                                                        "dependency b ended cancelled")
    assert all(jobs[i]["started_at"] is None and jobs[i]["attempts"] == 0 for i in "bcd")
    assert not ran.exists()
    # A job enqueued after a job that already ended dead is cancelled on arrival.
    late = cli("enqueue", '{"id": "late", "command": "true", "after": ["b"]}')
    assert (late.returncode, late.stdout) == (
        0, "Job late enqueued and cancelled: dependency b ended cancelled\n")
    assert _jobs(clean)["late"]["error"] == "dependency b ended cancelled"
    # Retrying the chain without its dead head is refused: it would wait for ever.
    refused = cli("retry", "b", "c")
    assert refused.returncode == 1 and "its dependency a is dead" in refused.stderr
    assert {_state(clean, "b"), _state(clean, "c")} == {"cancelled"}
    # With its head, it runs again in order: the head fails again, the chain is cancelled.
    assert cli("retry", "a", "b", "c").returncode == 0
    wait_for(lambda: _state(clean, "c") == "cancelled")
    assert _state(clean, "a") == "dead" and not ran.exists()


def test_a_job_waits_for_all_of_its_jobs(clean, cli, workers):
    """Many dependencies finishing at once, on several workers: each dependent is released
    exactly when its last dependency completes (none stays waiting)."""
    heads = [{"id": f"h{i}", "command": "true"} for i in range(12)]
    tails = [{"id": f"t{i}", "command": "true", "after": [f"h{i}", f"h{(i + 1) % 12}"]}
             for i in range(12)]
    cli("enqueue", "--json", "-", input=json.dumps(tails[:6] + heads + tails[6:]))
    done = {"completed"}
    workers.start(3, "--concurrency", "4")
    wait_for(lambda: {j["state"] for j in _jobs(clean).values()} == done)
    jobs = _jobs(clean)
    for i in range(12):
        assert jobs[f"t{i}"]["started_at"] >= max(jobs[f"h{i}"]["finished_at"],
                                                  jobs[f"h{(i + 1) % 12}"]["finished_at"])


def test_satisfied_dependencies_and_waiting_on_existing_jobs(clean, cli, workers):
    cli("enqueue", '{"id": "done", "command": "true"}')
    workers.start(1)
    wait_for(lambda: _state(clean, "done") == "completed")
    result = cli("enqueue", '{"id": "free", "command": "true", "after": ["done"]}')
    assert result.stdout == "Job free enqueued\n"
    wait_for(lambda: _state(clean, "free") == "completed")
    assert store.get_dependencies(clean, job_id="free") == [("done", JobState.COMPLETED)]
