"""A stored config value this version cannot use (written by an older version, or by hand)
falls back to the default with one warning: commands and workers keep working."""

import sqlalchemy as sa

from queuectl import store
from queuectl.core.jobspec import JobSpec
from tests.conftest import wait_for

BAD = {"poll_interval": "1e-05", "backoff_max": "345600000000", "job_timeout": "0.5"}


def store_raw(engine, values: dict[str, str]) -> None:
    with engine.begin() as conn:
        for key, value in values.items():
            conn.execute(sa.text("INSERT INTO config (key, value) VALUES (:k, :v) ON CONFLICT "
                                 "(key) DO UPDATE SET value = excluded.value"),
                         {"k": key, "v": value})


def test_a_worker_keeps_running_jobs_and_warns_once(clean, cli, workers):
    store_raw(clean, {"heartbeat_interval": "0.3", **BAD})
    workers.start(1)
    store.enqueue_jobs(clean, specs=[JobSpec("after-bad-config", "echo fine")])
    wait_for(lambda: store.get_job(clean, job_id="after-bad-config").state.value ==
             "completed", timeout=30, message="the job to complete despite the bad config")
    store.enqueue_jobs(clean, specs=[JobSpec("second", "sleep 1")])
    wait_for(lambda: store.get_job(clean, job_id="second").state.value == "completed",
             timeout=30, message="a second job after several config reloads")
    log = workers.logs()
    assert "Traceback" not in log
    assert log.count("poll_interval = '1e-05' is unusable") == 1
    assert all(w.poll() is None for w in workers.procs)
