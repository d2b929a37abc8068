"""The real `queuectl` command, run as a subprocess, where a worker or the real process is the
point: daemon workers, the supervisor. (Output formats, errors and exit codes run in process:
tests/cli/inprocess/test_commands.py.)"""

import json
import os
import signal

from queuectl import store
from tests.cli.checks import one_error_line, snapshot  # noqa: F401 - test_unique_and_after's
from tests.conftest import wait_for


def test_daemon_workers_start_and_stop(clean, cli, env, tmp_path):
    cli("config", "set", "poll_interval", "0.2s")
    started = cli("worker", "start", "--count", "2", "--daemon")
    assert started.returncode == 0, started.stderr
    lines = started.stdout.splitlines()
    assert lines[0] == "Started 2 worker(s)"
    pids = [int(line.rsplit(" ", 1)[1]) for line in lines if "PID" in line]
    assert len(pids) == 2
    try:
        cli("enqueue", f'{{"command": "sleep 2; echo ok > {tmp_path}/done", "id": "dj"}}')
        wait_for(lambda: store.get_job(clean, job_id="dj").state.value == "processing",
                 message="daemon worker picked the job")
        stopped = cli("worker", "stop")
        assert stopped.returncode == 0
        assert "stopped gracefully" in stopped.stdout and "1 completed" in stopped.stdout
        assert json.loads(cli("show", "dj", "--json").stdout)["state"] == "completed"
        assert (tmp_path / "done").read_text() == "ok\n"
        for pid in pids:
            assert not os.path.exists(f"/proc/{pid}") or \
                open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z"
        log = (tmp_path / "home" / "worker.log").read_text()
        assert "job dj started" in log and "job dj completed" in log
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_foreground_supervisor_restarts_a_crashed_worker(clean, cli, env):
    import subprocess

    from tests.conftest import QUEUECTL, ROOT

    def worker_pids():
        return sorted(w["pid"] for w in json.loads(cli("status", "--json").stdout)["workers"])

    cli("config", "set", "heartbeat_interval", "0.5s")  # a dead worker drops out of status in 1.5s
    sup = subprocess.Popen([*QUEUECTL, "worker", "start", "--count", "2"], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = wait_for(lambda: (p := worker_pids()) and len(p) == 2 and p,
                         message="two workers registered")
        os.kill(first[0], signal.SIGKILL)
        wait_for(lambda: (p := worker_pids()) and len(p) == 2 and first[0] not in p,
                 timeout=30, message="the killed worker replaced")
        sup.send_signal(signal.SIGTERM)
        _, err = sup.communicate(timeout=30)
        assert sup.returncode == 0, err
        assert f"worker PID {first[0]} exited unexpectedly (killed by SIGKILL)" in err
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
