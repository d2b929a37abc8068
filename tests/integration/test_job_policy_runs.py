"""Exit-code-aware retries, jitter, and the run context (cwd, env) with real worker processes,
real shell commands and the real CLI."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess

import sqlalchemy as sa

from queuectl import store
from tests.conftest import QUEUECTL, ROOT, wait_for


def fast_config(cli, **extra: str) -> None:
    values = {"poll_interval": "0.2s", "backoff_base": "1", "backoff_max": "0.2s",
              "backoff_jitter": "0", **extra}
    for key, value in values.items():
        done = cli("config", "set", key, value)
        assert done.returncode == 0, done.stderr


def state(engine, job_id: str) -> str:
    return store.get_job(engine, job_id=job_id).state.value


def settled(engine, *ids: str):
    return lambda: all(state(engine, i) in ("dead", "completed") for i in ids)


def field(shown: str, name: str) -> str:
    """The value of `name: value` in `show`'s text."""
    match = re.search(rf"^{re.escape(name)}: +(.*)$", shown, re.M)
    assert match, shown
    return match.group(1)


def enqueue(cli, jobs: list[dict]) -> None:
    done = cli("enqueue", json.dumps(jobs))
    assert done.returncode == 0, done.stderr


def test_retry_on_and_no_retry_on_against_exit_codes_and_timeouts(clean, cli, workers):
    fast_config(cli)
    enqueue(cli, [
        {"id": "r64", "command": "echo 'usage: r64 FILE' >&2; exit 64", "retry_on": [75],
         "max_retries": 3},
        {"id": "r75", "command": "exit 75", "retry_on": [75], "max_retries": 2},
        {"id": "n64", "command": "exit 64", "no_retry_on": [64, 78], "max_retries": 3},
        {"id": "n75", "command": "exit 75", "no_retry_on": [64], "max_retries": 1},
        {"id": "slow", "command": "sleep 5", "retry_on": [75], "timeout": 300,
         "max_retries": 1},
        {"id": "plain", "command": "exit 64", "max_retries": 1},
    ])
    workers.start(1, "--concurrency", "6")
    ids = ("r64", "r75", "n64", "n75", "slow", "plain")
    wait_for(settled(clean, *ids), timeout=30, message="every job settled")
    jobs = {i: store.get_job(clean, job_id=i) for i in ids}
    assert {i: (j.state.value, j.attempts) for i, j in jobs.items()} == {
        "r64": ("dead", 1), "r75": ("dead", 3), "n64": ("dead", 1), "n75": ("dead", 2),
        "slow": ("dead", 2), "plain": ("dead", 2)}
    assert jobs["r64"].error == ("exit code 64 is not retried (the job's retry_on: 75); "
                                 "exited with code 64: usage: r64 FILE")
    assert jobs["n64"].error.startswith("exit code 64 is not retried (the job's no_retry_on)")
    assert jobs["r75"].error == "exited with code 75"
    assert jobs["slow"].error.startswith("timed out")
    shown = cli("show", "r64")
    assert field(shown.stdout, "last error").startswith("exit code 64 is not retried")
    assert field(shown.stdout, "policy") == "retry_on 75"
    as_json = json.loads(cli("show", "r64", "--json").stdout)
    assert as_json["exit_code"] == 64 and as_json["retry_on"] == [75]
    assert as_json["no_retry_on"] is None
    # A replay keeps the job's policy: it goes straight to dead again.
    assert cli("dlq", "retry", "r64").returncode == 0
    wait_for(lambda: store.get_job(clean, job_id="r64").finished_at != jobs["r64"].finished_at
             and state(clean, "r64") == "dead", message="the replayed job dead again")
    again = store.get_job(clean, job_id="r64")
    assert again.attempts == 1 and again.retry_on == [75]


def test_config_gives_the_default_for_jobs_that_set_neither(clean, cli, workers):
    fast_config(cli, no_retry_on="64")
    refused = cli("config", "set", "retry_on", "75")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "no_retry_on is set" in refused.stderr
    enqueue(cli, [
        {"id": "default", "command": "exit 64", "max_retries": 2},
        {"id": "own", "command": "exit 64", "retry_on": [64], "max_retries": 2},
    ])
    workers.start(1, "--concurrency", "2")
    wait_for(settled(clean, "default", "own"), message="both settled")
    assert store.get_job(clean, job_id="default").attempts == 1
    assert store.get_job(clean, job_id="default").error.startswith(
        "exit code 64 is not retried (config no_retry_on)")
    assert store.get_job(clean, job_id="own").attempts == 3
    workers.stop()  # a new worker reads the new config at once (others at their heartbeat)
    fast_config(cli, no_retry_on="none", retry_on="75")
    workers.start(1)
    enqueue(cli, [{"id": "later", "command": "exit 1", "max_retries": 5}])
    wait_for(settled(clean, "later"), timeout=30, message="the job dead")
    assert store.get_job(clean, job_id="later").error.startswith(
        "exit code 1 is not retried (config retry_on: 75)")


def test_jitter_spreads_50_simultaneous_failures_over_the_band(clean, cli, workers):
    fast_config(cli, backoff_base="60", backoff_max="1h", backoff_jitter="0.5")
    enqueue(cli, [{"id": f"j{i:02}", "command": "exit 1", "max_retries": 1}
                  for i in range(50)])
    workers.start(1, "--concurrency", "10")
    wait_for(lambda: store.count_states(clean)["failed"] == 50, timeout=30,
             message="50 jobs failed once")
    with clean.connect() as conn:
        waits = conn.execute(sa.text(
            "SELECT extract(epoch FROM run_at - finished_at)::float8 FROM jobs")).scalars().all()
    assert len(waits) == 50
    assert all(30 <= w <= 90 for w in waits), sorted(waits)  # 60 s * [0.5, 1.5]
    assert max(waits) - min(waits) > 30 and len({round(w, 3) for w in waits}) > 45


def test_cwd_and_env_reach_the_command(clean, cli, workers, tmp_path):
    fast_config(cli)
    enqueue(cli, [
        {"id": "ctx", "cwd": str(tmp_path), "env": {"GREETING": "hello world", "EMPTY": ""},
         "queue": "ctx-q",
         "command": "pwd; printenv GREETING; printenv EMPTY; echo id=$QUEUECTL_JOB_ID "
                    "attempt=$QUEUECTL_ATTEMPT queue=$QUEUECTL_QUEUE"},
        {"id": "second", "max_retries": 1,
         "command": 'test "$QUEUECTL_ATTEMPT" = 2 || exit 3; echo attempt $QUEUECTL_ATTEMPT'},
    ])
    workers.start(1, "--concurrency", "2")
    wait_for(settled(clean, "ctx", "second"), message="jobs done")
    ctx = store.get_job(clean, job_id="ctx")
    assert ctx.state.value == "completed", ctx.error
    assert ctx.output == f"{tmp_path}\nhello world\n\nid=ctx attempt=1 queue=ctx-q\n"
    second = store.get_job(clean, job_id="second")
    assert (second.state.value, second.output) == ("completed", "attempt 2\n")
    shown = cli("show", "ctx").stdout
    assert field(shown, "cwd") == str(tmp_path)
    assert field(shown, "env") == "EMPTY, GREETING" and "GREETING=" not in shown
    assert "  GREETING=hello world" in cli("show", "ctx", "--env").stdout
    plain = json.loads(cli("show", "ctx", "--json").stdout)
    assert plain["env_names"] == ["EMPTY", "GREETING"] and "env" not in plain
    assert plain["cwd"] == str(tmp_path)
    full = json.loads(cli("show", "ctx", "--json", "--env").stdout)
    assert full["env"] == {"EMPTY": "", "GREETING": "hello world"}


def test_a_missing_cwd_fails_clearly_and_is_retried(clean, cli, workers, tmp_path):
    fast_config(cli)
    missing = str(tmp_path / "not-there")
    enqueue(cli, [{"id": "lost", "cwd": missing, "command": "true", "max_retries": 2,
                   "retry_on": []}])
    workers.start(1)
    wait_for(settled(clean, "lost"), message="the job dead")
    job = store.get_job(clean, job_id="lost")
    assert (job.state.value, job.attempts) == ("dead", 3)  # retried like any failure
    assert job.error == f"working directory {missing} does not exist on host " \
                        f"{socket.gethostname()}"


def test_bad_input_is_one_line_exit_2_and_nothing_written(clean, cli):
    bad = [
        {"command": "true", "cwd": "relative/dir"},
        {"command": "true", "env": {"BAD-NAME": "x"}},
        {"command": "true", "env": {"9LIVES": "x"}},
        {"command": "true", "env": {"BIG": "x" * 70_000}},
        {"command": "true", "env": {"A": 1}},
        {"command": "true", "retry_on": [0]},
        {"command": "true", "retry_on": [300]},
        {"command": "true", "retry_on": ["64"]},
        {"command": "true", "no_retry_on": [64], "retry_on": [75]},
        {"command": "true", "backoff_base": 0},
    ]
    for payload in bad:
        done = cli("enqueue", json.dumps([{"command": "true", "id": "fine"}, payload]))
        assert done.returncode == 2, (payload, done.stderr)
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
        assert "Traceback" not in done.stderr
    for key, value in (("retry_on", "0"), ("no_retry_on", "256"), ("backoff_jitter", "2")):
        done = cli("config", "set", key, value)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert sum(store.count_states(clean).values()) == 0
    assert store.load_config(clean)["retry_on"] is None


def test_enqueue_here_fills_cwd_for_jobs_without_one(clean, cli, env, workers, tmp_path):
    fast_config(cli)
    run_env = {**env, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [*QUEUECTL, "enqueue", "--here", json.dumps([
            {"id": "here", "command": "pwd"}, {"id": "there", "command": "pwd", "cwd": "/"}])],
        capture_output=True, text=True, env=run_env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert store.get_job(clean, job_id="here").cwd == str(tmp_path)
    assert store.get_job(clean, job_id="there").cwd == "/"
    workers.start(1)
    wait_for(settled(clean, "here", "there"), message="jobs done")
    assert store.get_job(clean, job_id="here").output == f"{tmp_path}\n"
    assert store.get_job(clean, job_id="there").output == "/\n"
    assert os.getcwd() != str(tmp_path)  # the worker's own directory is another one


def test_the_runner_runs_in_cwd_with_env_and_refuses_a_missing_or_odd_cwd(tmp_path):
    from queuectl.worker.runner import Runner

    runner = Runner()
    try:
        ran = runner.run('pwd; echo "$A|$HOME"', cwd=str(tmp_path), env={"A": "x y"})
        assert ran.ok and ran.output == f"{tmp_path}\nx y|{os.environ.get('HOME', '')}\n"
        gone = runner.run("true", cwd=str(tmp_path / "gone"))
        assert (gone.ok, gone.exit_code) == (False, None)
        assert gone.error == (f"working directory {tmp_path / 'gone'} does not exist on host "
                              f"{socket.gethostname()}")
        (tmp_path / "file").write_text("")
        odd = runner.run("true", cwd=str(tmp_path / "file"))
        assert (odd.ok, odd.exit_code) == (False, None)
        assert odd.error == "could not start the command: Not a directory"
    finally:
        runner.close()
