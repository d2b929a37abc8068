"""The README's idiom for a job that starts something meant to outlive it."""

import os
import signal
from pathlib import Path

from queuectl import store
from queuectl.core.jobspec import JobSpec
from tests.conftest import wait_for


def sleepers(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and argv[:2] == [b"sleep", marker.encode()]:
            found.append(int(proc.name))
    return found


def test_setsid_f_then_a_pause_outlives_the_job(clean, cli, workers):
    cli("config", "set", "poll_interval", "0.1s")
    marker = f"{4000 + os.getpid() % 1000}.{os.getpid()}"
    specs = [JobSpec(f"detach-{i}", f"setsid -f sleep {marker}; sleep 1") for i in range(3)]
    store.enqueue_jobs(clean, specs=specs)
    workers.start(1, "--concurrency", "3")
    try:
        wait_for(lambda: all(store.get_job(clean, job_id=s.id).state.value == "completed"
                             for s in specs), timeout=30, message="the detaching jobs to end")
        assert len(sleepers(marker)) == 3
    finally:
        for pid in sleepers(marker):
            os.kill(pid, signal.SIGKILL)
