"""`worker stop` is safe: it ignores files it did not write, never signals a process that is
not one of this data directory's workers, and several stops at once are one graceful stop."""

import json
import subprocess
import threading
from pathlib import Path

from queuectl import store
from queuectl.worker import supervisor
from tests.conftest import wait_for


def workers_dir(env) -> Path:
    path = Path(env["QUEUECTL_HOME"]) / "workers"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_is_daemon_worker_checks_the_data_directory(env, tmp_path):
    directory = workers_dir(env)
    other = tmp_path / "other"
    proc = subprocess.Popen(["bash", "-c", "exec -a queuectl sleep 60"])
    try:
        assert not supervisor.is_daemon_worker(proc.pid, directory)
    finally:
        proc.kill()
        proc.wait()
    assert not supervisor.is_daemon_worker(2**22 + 7, other)


def test_two_stops_at_once_are_one_graceful_stop(clean, cli, env, tmp_path):
    cli("config", "set", "poll_interval", "0.2s")
    started = cli("worker", "start", "--daemon")
    assert started.returncode == 0, started.stderr
    cli("enqueue", f'{{"command": "sleep 3; echo ok > {tmp_path}/done", "id": "twice"}}')
    wait_for(lambda: store.get_job(clean, job_id="twice").state.value == "processing",
             message="the daemon worker picked the job")
    results: list[subprocess.CompletedProcess] = []
    stops = [threading.Thread(target=lambda: results.append(cli("worker", "stop")))
             for _ in range(3)]
    for thread in stops:
        thread.start()
    for thread in stops:
        thread.join()
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    job = json.loads(cli("show", "twice", "--json").stdout)
    assert (job["state"], job["attempts"]) == ("completed", 1)
    assert (tmp_path / "done").read_text() == "ok\n"
    reports = [r.stdout for r in results if "PID" in r.stdout]
    assert reports and all("stopped gracefully" in r for r in reports), reports
    assert not list(workers_dir(env).glob("*.pid")) and not list(
        workers_dir(env).glob("*.stopping"))


def test_a_malformed_exit_report_is_not_a_traceback(tmp_path):
    for text in ("[1, 2]", '{"completed": "x"}', "null", "{not json"):
        (tmp_path / "42.exit").write_text(text)
        assert supervisor.how_it_ended(tmp_path, 42).startswith("exited (no readable report")
    (tmp_path / "43.exit").write_text('{"completed": 2, "failed": 1, "requeued": 1}')
    assert supervisor.how_it_ended(tmp_path, 43) == (
        "stopped gracefully (2 completed, 1 failed, 1 put back to pending)")
