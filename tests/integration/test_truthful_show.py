"""`show` and `list` with a real worker (issue 27): a running job paused by `pause` shows its
pause time and `processing (paused)`; a job on its second run shows that run, and the first
run's end as the last run's, not as this one's."""

from __future__ import annotations

import re

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.conftest import wait_for
from tests.integration.test_steering import fast


def _field(shown: str, key: str) -> str:
    [value] = [line.split(":", 1)[1].strip() for line in shown.splitlines()
               if line.startswith(key + ":")]
    return value


def test_a_paused_running_job_shows_its_pause_in_show_and_list(clean, cli, workers, tmp_path):
    fast(cli)
    started = tmp_path / "started"
    store.enqueue_jobs(clean, specs=[JobSpec("nap", f"touch {started}; sleep 30")])
    workers.start(1)
    wait_for(started.exists, message="the job running")
    assert cli("pause", "nap").returncode == 0
    shown = cli("show", "nap").stdout
    assert _field(shown, "state") == "processing"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d \(SIGSTOP\)",
                        _field(shown, "paused"))
    assert _field(shown, "runs") == "run 1 of at most 4; max_retries 3"
    assert " processing (paused) " in cli("list").stdout
    assert cli("cancel", "nap").returncode == 0
    wait_for(lambda: store.get_job(clean, job_id="nap").state is JobState.CANCELLED,
             message="the job cancelled")


def test_a_job_on_its_second_run_shows_that_run(clean, cli, workers, tmp_path):
    fast(cli)
    once, second = tmp_path / "once", tmp_path / "second"
    store.enqueue_jobs(clean, specs=[JobSpec(
        "twice", f"if [ -e {once} ]; then touch {second}; sleep 30; "
                 f"else touch {once}; exit 3; fi")])
    workers.start(1)
    wait_for(second.exists, message="the second run started")
    shown = cli("show", "twice").stdout
    assert _field(shown, "state") == "processing"
    assert _field(shown, "runs") == "run 2 of at most 4; max_retries 3"
    assert _field(shown, "started") != "-"
    assert (_field(shown, "finished"), _field(shown, "duration"), _field(shown, "exit code")) \
        == ("- (running)", "- (running)", "-")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d after \S+, exit code 3",
                        _field(shown, "last run ended"))
    assert cli("cancel", "twice").returncode == 0
    wait_for(lambda: store.get_job(clean, job_id="twice").state is JobState.CANCELLED,
             message="the job cancelled")
