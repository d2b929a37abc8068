"""`worker start --job-log-dir DIR` with real worker processes: each run of a job appended to
DIR/<name>.log with its header, across a retry; hostile ids land inside DIR."""

from __future__ import annotations

import json
import signal
import subprocess

import sqlalchemy as sa

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from queuectl.worker import joblogs
from tests.conftest import QUEUECTL, wait_for


def fast_config(cli):
    for key, value in {"poll_interval": "0.2s", "backoff_base": "1",
                       "backoff_max": "0.2s"}.items():
        assert cli("config", "set", key, value).returncode == 0


def state(engine, job_id):
    return store.get_job(engine, job_id=job_id).state


def test_worker_start_appends_each_run_with_a_header_across_a_retry(clean, cli, env,
                                                                    tmp_path):
    fast_config(cli)
    logs = tmp_path / "job logs"  # created by the worker; set through the environment
    enqueued = cli("enqueue", json.dumps(
        {"id": "flaky", "command": 'echo "try $QUEUECTL_ATTEMPT"; exit 1', "max_retries": 1}))
    assert enqueued.returncode == 0, enqueued.stderr
    proc = subprocess.Popen([*QUEUECTL, "worker", "start"],
                            env={**env, "QUEUECTL_JOB_LOG_DIR": str(logs)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        wait_for(lambda: state(clean, "flaky") is JobState.DEAD, timeout=60,
                 message="the job to die after its retry")
    finally:
        proc.send_signal(signal.SIGTERM)
        stderr = proc.communicate(timeout=30)[1].decode()
    assert "Traceback" not in stderr
    assert [p.name for p in logs.iterdir()] == ["flaky.log"]
    lines = (logs / "flaky.log").read_text().splitlines()
    assert len(lines) == 6, lines
    for i, attempt in enumerate((1, 2)):
        header, output, footer = lines[3 * i: 3 * i + 3]
        assert header.startswith(f'=== job "flaky" attempt {attempt} of 2 on host ')
        assert ", started 20" in header
        assert output == f"try {attempt}"
        assert footer.startswith(f"=== exited with code 1: try {attempt} after ")


def test_hostile_ids_land_inside_the_directory(clean, cli, workers, tmp_path):
    logs = tmp_path / "logs"
    ids = ["a/b", "../x", "$(echo no)", "sp ace 'q' \"qq\"", "é/../..", "z" * 255]
    store.enqueue_jobs(clean, specs=[JobSpec(i, "echo hi") for i in ids])
    # `.` and `..` are refused at enqueue now; a row stored by an older version has them.
    with clean.begin() as conn:
        for old in (".", ".."):
            conn.execute(sa.text("INSERT INTO jobs (id, command, max_retries) "
                                 "VALUES (:id, 'echo hi', 0)"), {"id": old})
    ids += [".", ".."]
    workers.start(1, "--job-log-dir", str(logs))
    wait_for(lambda: all(state(clean, i) is JobState.COMPLETED for i in ids), timeout=60,
             message="every job to complete")
    workers.stop()
    names = sorted(p.name for p in logs.iterdir())
    assert names == sorted(joblogs.file_name(i) for i in ids)
    assert not (tmp_path / "x.log").exists()  # `../x` did not climb out
    for i in ids:
        text = (logs / joblogs.file_name(i)).read_text()
        assert text.splitlines()[0].startswith(f"=== job {json.dumps(i, ensure_ascii=False)}")
        assert "\nhi\n" in text
    assert {p.parent for p in logs.rglob("*")} == {logs}


def test_an_unusable_directory_is_one_error_line(cli, clean, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = cli("worker", "start", "--job-log-dir", str(blocker / "sub"))
    assert res.returncode == 1, res.stderr
    assert res.stderr.startswith("error: cannot use --job-log-dir ")
    assert len(res.stderr.splitlines()) == 1


