"""`worker stop` ignores files it did not write and never signals a process that is not one of
this data directory's workers; a data directory that is a file is one error line. In process:
no worker starts (two stops at once: tests/cli/test_worker_stop.py)."""

import socket
import subprocess

from tests.cli.test_worker_stop import workers_dir


def test_stray_files_in_the_workers_directory_are_left_alone(clean, cli, env):
    directory = workers_dir(env)
    strays = [directory / name for name in ("backup copy.pid", "-1.pid", "007.pid", "0.pid")]
    for path in strays:
        path.write_text("1\n")
    result = cli("worker", "stop")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr == f"No workers are running on host {socket.gethostname()}\n"
    assert all(path.exists() for path in strays)


def test_a_stale_pid_file_naming_another_process_is_not_signalled(clean, cli, env):
    directory = workers_dir(env)
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        (directory / f"{bystander.pid}.pid").write_text(f"{bystander.pid}\n")
        result = cli("worker", "stop")
        assert result.returncode == 0, result.stderr
        assert result.stderr == f"No workers are running on host {socket.gethostname()}\n"
        assert bystander.poll() is None, "worker stop killed a process that is not a worker"
        assert not (directory / f"{bystander.pid}.pid").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_a_data_directory_that_is_a_file_is_one_error_line(cli, env, tmp_path):
    home = tmp_path / "not-a-dir"
    home.write_text("")
    result = cli("worker", "start", "--daemon", extra_env={"QUEUECTL_HOME": str(home)})
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: cannot use the data directory")
    assert len(result.stderr.splitlines()) == 1
