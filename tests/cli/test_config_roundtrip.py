"""Config values at the ends of their ranges, through PostgreSQL, the real CLI and a real
worker: read back equal, and a worker runs jobs under them (the property over all accepted
values, without a database, is tests/unit/test_config_property.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings

from queuectl import errors, store
from queuectl.core import configkeys
from tests.conftest import wait_for
from tests.unit.test_config_property import KEY, RAW

HIGH = {"max_retries": "1000000", "backoff_base": "100", "backoff_max": "365d",
        "job_timeout": "2147483647ms", "poll_interval": "1h", "heartbeat_interval": "1h",
        "lease_timeout": "7d", "retention": "36500d", "backoff_jitter": "1",
        "retry_on": "1-255", "no_retry_on": "none"}
LOW = {"max_retries": "0", "backoff_base": "1", "backoff_max": "1ms", "job_timeout": "1ms",
       "poll_interval": "10ms", "heartbeat_interval": "100ms", "lease_timeout": "1s",
       "retention": "1s", "backoff_jitter": "0", "retry_on": "none", "no_retry_on": "1"}


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=KEY, raw=RAW)
def test_accepted_values_survive_postgresql(engine, key, raw):
    try:
        name, value = configkeys.parse(key, raw)
    except errors.InvalidConfig:
        return
    store.set_config(engine, key=name, value=value)
    assert store.load_config(engine)[name] == value
    if value is not None and configkeys.KEYS[name].unit in ("s", "ms"):
        seconds = value / 1000 if configkeys.KEYS[name].unit == "ms" else value
        with engine.connect() as conn:  # the expressions the store builds from durations
            conn.execute(sa.text("SELECT now() + :s * interval '1 second', "
                                 "now() - :s * interval '1 second'"), {"s": seconds}).one()


def set_all(engine, cli, values: dict[str, str]) -> None:
    """What `config set KEY RAW` does for each key (one subprocess per key is slow under
    load), then one real `config list --json` must read every value back."""
    expected = {}
    for key, raw in values.items():
        name, value = configkeys.parse(key, raw)
        store.set_config(engine, key=name, value=value)
        shown = configkeys.in_seconds(name, value)  # durations in seconds, job_timeout too
        expected[name] = list(shown) if isinstance(shown, tuple) else shown  # JSON lists
    listed = cli("config", "list", "--json")
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    assert json.loads(listed.stdout) == expected


def test_a_worker_runs_jobs_at_the_top_of_every_range(clean, cli, workers):
    set_all(clean, cli, HIGH)
    workers.start(1)
    cli("enqueue", '[{"command": "echo ok", "id": "ok"}, {"command": "exit 3", "id": "bad"}]')
    wait_for(lambda: store.get_job(clean, job_id="ok").state.value == "completed",
             timeout=30, message="the job to complete")
    wait_for(lambda: store.get_job(clean, job_id="bad").state.value == "failed",
             timeout=30, message="the failing job to wait for its retry")
    bad = json.loads(cli("show", "bad", "--json").stdout)
    wait = datetime.fromisoformat(bad["run_at"]) - datetime.now(UTC)
    assert 0 < wait.total_seconds() <= 200  # backoff_base ** 1, jitter 1: 0 to 200 s
    assert bad["max_retries"] == 1_000_000
    assert cli("list").returncode == 0 and cli("status").returncode == 0
    assert "Traceback" not in workers.logs()


def test_a_worker_runs_jobs_at_the_bottom_of_every_range(clean, cli, workers):
    set_all(clean, cli, LOW)
    workers.start(1)
    cli("enqueue", '[{"command": "sleep 5", "id": "slow"}, {"command": "true", "id": "quick", '
        '"timeout": 10000}]')
    wait_for(lambda: store.get_job(clean, job_id="slow").state.value == "dead",
             timeout=30, message="the 1 ms job_timeout to kill the slow job")
    assert "timed out" in (store.get_job(clean, job_id="slow").error or "")
    wait_for(lambda: store.get_job(clean, job_id="quick").state.value == "completed",
             timeout=30, message="a job with its own timeout to complete")
    assert "Traceback" not in workers.logs()
