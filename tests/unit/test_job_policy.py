"""Exit-code-aware retries, jitter and the run context (cwd, env): the pure policy, the
outcome classification with the in-memory fakes, payload and config validation."""

from __future__ import annotations

import logging
import random

import pytest

from queuectl import errors, store
from queuectl.core import backoff, configkeys, jobspec
from queuectl.db.models import JobState
from queuectl.worker import outcomes
from queuectl.worker.executor import Executor, job_environment
from queuectl.worker.ports import Settings
from queuectl.worker.runner import Outcome
from queuectl.worker.runs import RunTable
from tests.unit.fakes import FakeRunner

POLICY = backoff.Policy(backoff_base=2, backoff_max=3600)


def job(**kw: object) -> store.Claimed:
    fields: dict[str, object] = {"id": "j", "command": "cmd", "run_id": 7, "attempts": 1,
                                 "max_retries": 3, "timeout_ms": None, **kw}
    return store.Claimed(**fields)  # type: ignore[arg-type]


def failed(code: int | None, *, timed_out: bool = False, error: str | None = None) -> Outcome:
    return Outcome(False, code, error or f"exited with code {code}: usage: cmd FILE", "usage",
                   False, 0.1, timed_out=timed_out)


# --- the pure policy -------------------------------------------------------------------------

@pytest.mark.parametrize(("job_policy", "code", "retried"), [
    (backoff.JobPolicy(retry_on=(75,)), 75, True),
    (backoff.JobPolicy(retry_on=(75,)), 64, False),
    (backoff.JobPolicy(no_retry_on=(64,)), 64, False),
    (backoff.JobPolicy(no_retry_on=(64,)), 75, True),
    (backoff.JobPolicy(retry_on=()), 1, False),
    (backoff.JobPolicy(), 64, True),
    (backoff.JobPolicy(retry_on=(75,)), None, True),  # timeout, signal, could not start, lost
    (backoff.JobPolicy(no_retry_on=(64,)), None, True),
])
def test_exit_codes_decide_whether_a_failure_is_retried(job_policy, code, retried):
    assert (backoff.not_retried(POLICY, job_policy, code) is None) == retried


def test_the_config_lists_apply_only_to_jobs_that_set_neither():
    config = backoff.Policy(retry_on=(75,))
    assert backoff.not_retried(config, backoff.JobPolicy(), 64) == (
        "exit code 64 is not retried (config retry_on: 75)")
    assert backoff.not_retried(config, backoff.JobPolicy(no_retry_on=(1,)), 64) is None
    config = backoff.Policy(no_retry_on=(64,))
    assert backoff.not_retried(config, backoff.JobPolicy(), 64) == (
        "exit code 64 is not retried (config no_retry_on)")
    assert backoff.not_retried(config, backoff.JobPolicy(retry_on=(64,)), 64) is None


def test_a_code_not_retried_is_dead_at_once_even_with_retries_left():
    state, delay, reason = backoff.after_failure(
        POLICY, attempts=1, max_retries=5, exit_code=64, job=backoff.JobPolicy(retry_on=(75,)))
    assert (state, delay) == (JobState.DEAD, 0.0)
    assert reason is not None and reason.startswith("exit code 64 is not retried")


def test_jitter_band_is_applied_after_the_cap():
    policy = backoff.Policy(backoff_base=2, backoff_max=10, jitter=0.5)
    assert backoff.delay(policy, 2, rand=lambda: 0.0) == pytest.approx(2.0)  # 4 * 0.5
    assert backoff.delay(policy, 2, rand=lambda: 0.999999) == pytest.approx(6.0, rel=1e-5)
    assert backoff.delay(policy, 9, rand=lambda: 0.0) == pytest.approx(5.0)  # cap 10 * 0.5
    rng = random.Random(1)
    delays = [backoff.delay(policy, 3, rand=rng.random) for _ in range(500)]
    assert all(4.0 <= d <= 12.0 for d in delays)
    assert min(delays) < 5 and max(delays) > 11  # spread over the band, not bunched


def test_no_jitter_gives_the_exact_delay_and_a_job_base_overrides_the_config():
    assert backoff.delay(POLICY, 3) == 8
    assert backoff.delay(POLICY, 3, base=3) == 27
    assert backoff.after_failure(POLICY, attempts=2, max_retries=3,
                                 job=backoff.JobPolicy(backoff_base=5)) == (
        JobState.FAILED, 25.0, None)


# --- outcomes: what a run means --------------------------------------------------------------

def test_decide_sends_an_unretried_exit_code_to_dead_keeping_the_last_output_line():
    decision = outcomes.decide(job(retry_on=(75,)), failed(64), POLICY)
    assert decision.result is not None
    assert decision.result.state is JobState.DEAD and decision.result.exit_code == 64
    assert decision.result.error == ("exit code 64 is not retried (the job's retry_on: 75); "
                                     "exited with code 64: usage: cmd FILE")


def test_decide_retries_a_listed_code_and_a_timeout_always():
    assert outcomes.decide(job(retry_on=(75,)), failed(75), POLICY).result.state is (  # type: ignore[union-attr]
        JobState.FAILED)
    timeout = failed(None, timed_out=True, error="timed out after 1.0s")
    result = outcomes.decide(job(retry_on=(75,)), timeout, POLICY).result
    assert result is not None and result.state is JobState.FAILED
    assert result.error == "timed out after 1.0s"
    missing = failed(None, error="working directory /nope does not exist on host h")
    result = outcomes.decide(job(no_retry_on=(1,)), missing, POLICY).result
    assert result is not None and result.state is JobState.FAILED


def test_decide_uses_the_config_default_and_the_job_backoff_base():
    config = backoff.Policy(backoff_base=2, backoff_max=3600, no_retry_on=(64,))
    assert outcomes.decide(job(), failed(64), config).result.state is JobState.DEAD  # type: ignore[union-attr]
    result = outcomes.decide(job(attempts=2, backoff_base=10.0), failed(1), config).result
    assert result is not None and (result.state, result.retry_delay) == (JobState.FAILED, 100)


def test_a_lost_run_is_always_retryable_with_jitter_and_the_job_base():
    run = store.ExpiredRun("j", 7, 1, 3, 1, "h", 1, 2.0, backoff_base=10.0)
    policy = backoff.Policy(backoff_base=2, backoff_max=3600, jitter=0.5, retry_on=())
    delays = {outcomes.lost_run(run, policy).retry_delay for _ in range(50)}
    assert all(5.0 <= d <= 15.0 for d in delays) and len(delays) > 40
    assert outcomes.lost_run(run, policy).state is JobState.FAILED


def test_the_executor_passes_cwd_and_the_job_environment_to_the_runner():
    runner = FakeRunner()
    executor = Executor(RunTable(), runner, concurrency=1, settings=Settings)
    claimed = job(cwd="/tmp", env={"A": "1"}, attempts=2)
    decision = executor.execute(claimed)
    assert decision.result is not None and decision.result.state is JobState.COMPLETED
    assert runner.contexts == [("/tmp", {"A": "1", "QUEUECTL_JOB_ID": "j",
                                         "QUEUECTL_ATTEMPT": "2", "QUEUECTL_QUEUE": "default"})]
    assert job_environment(job()) == {"QUEUECTL_JOB_ID": "j", "QUEUECTL_ATTEMPT": "1",
                                      "QUEUECTL_QUEUE": "default"}


# --- validation -------------------------------------------------------------------------------

def test_policy_and_context_fields_parse():
    [spec] = jobspec.parse_payload(
        '{"command": "x", "retry_on": [75, 64, 75], "backoff_base": 1.5, "cwd": "/srv/app",'
        ' "env": {"A_1": "x y", "_b": ""}}')
    assert spec.retry_on == (64, 75) and spec.no_retry_on is None
    assert spec.backoff_base == 1.5 and spec.cwd == "/srv/app"
    assert spec.env == {"A_1": "x y", "_b": ""}


def test_here_fills_cwd_only_where_a_job_sets_none():
    specs = jobspec.parse_payload('[{"command": "a"}, {"command": "b", "cwd": "/x"}]',
                                  here="/home/me")
    assert [s.cwd for s in specs] == ["/home/me", "/x"]


@pytest.mark.parametrize(("payload", "needle"), [
    ('{"command": "x", "retry_on": [0]}', "exit codes are 1 to 255, not 0"),
    ('{"command": "x", "retry_on": [300]}', "exit codes are 1 to 255, not 300"),
    ('{"command": "x", "retry_on": ["64"]}', "must be a list of exit codes"),
    ('{"command": "x", "retry_on": [true]}', "must be a list of exit codes"),
    ('{"command": "x", "no_retry_on": 64}', "must be a list of exit codes"),
    ('{"command": "x", "retry_on": [75], "no_retry_on": [64]}', "at most one of"),
    ('{"command": "x", "backoff_base": 0}', "more than 0"),
    ('{"command": "x", "backoff_base": "2"}', "must be a number"),
    ('{"command": "x", "backoff_base": 1000}', "at most 100"),
    ('{"command": "x", "cwd": "tmp"}', "absolute"),
    ('{"command": "x", "cwd": ""}', "absolute"),
    ('{"command": "x", "cwd": 5}', "absolute"),
    ('{"command": "x", "env": ["A"]}', "must be an object"),
    ('{"command": "x", "env": {"1A": "x"}}', "not a valid variable name"),
    ('{"command": "x", "env": {"A-B": "x"}}', "not a valid variable name"),
    ('{"command": "x", "env": {"": "x"}}', "not a valid variable name"),
    ('{"command": "x", "env": {"A": 1}}', "must be a string"),
    ('{"command": "x", "env": {"A": "a\\u0000b"}}', "without NUL"),
    ('{"command": "x", "env": {"QUEUECTL_JOB_ID": "x"}}', "set by the worker"),
    ('{"command": "x", "env": {"A": "' + "x" * 70000 + '"}}', "larger than 64 KiB"),
])
def test_bad_policy_and_context_fields_name_the_problem(payload, needle):
    with pytest.raises(errors.InvalidJob, match=needle):
        jobspec.parse_payload(payload)


@pytest.mark.parametrize(("key", "raw", "expected"), [
    ("retry_on", "75", (75,)),
    ("retry_on", "75, 64 64-66", (64, 65, 66, 75)),
    ("no-retry-on", "none", None),
    ("backoff_jitter", "0.5", 0.5),
    ("backoff_jitter", "0", 0.0),
])
def test_policy_config_values_parse_and_read_back(key, raw, expected):
    name, value = configkeys.parse(key, raw)
    assert value == expected
    assert configkeys.parse_stored(name, configkeys.format_value(value)) == value


@pytest.mark.parametrize(("key", "raw"), [
    ("retry_on", "0"), ("retry_on", "256"), ("retry_on", "64-60"), ("retry_on", "x"),
    ("retry_on", ","), ("no_retry_on", "-1"), ("backoff_jitter", "1.5"),
    ("backoff_jitter", "-0.1"),
])
def test_bad_policy_config_values_are_refused(key, raw):
    with pytest.raises(errors.InvalidConfig):
        configkeys.parse(key, raw)


def test_the_worker_settings_carry_jitter_and_the_config_lists():
    values = {**configkeys.defaults(), "retry_on": (75,)}
    policy = Settings.from_config(values).policy
    assert (policy.jitter, policy.retry_on, policy.no_retry_on) == (0.1, (75,), None)


def test_the_leader_rescues_lost_runs_with_jitter_and_the_job_backoff_base():
    from queuectl.worker.upkeep import Upkeep
    from tests.unit.fakes import FakeJob, FakeStore
    from tests.unit.test_worker_parts import gate

    now = [1000.0]
    db = FakeStore(clock=lambda: now[0])
    for i in range(30):
        db.add(FakeJob(f"lost{i}", "x", backoff_base=10.0, retry_on=()))
    db.finish_and_claim(results=[], worker_id=3, limit=30, lease_seconds=1)
    policy = backoff.Policy(backoff_base=2, backoff_max=3600, jitter=0.5)
    settings = Settings(lease_timeout=10.0, heartbeat_interval=2.0, policy=policy)
    upkeep = Upkeep(db, gate())
    db.workers = {1: now[0]}
    now[0] += 5  # the runs' leases expired
    upkeep.tick(1, settings)
    assert set(db.states().values()) == {"failed"}  # lost runs are retried despite retry_on
    delays = [r.retry_delay for r in db.written]
    assert len(delays) == 30 and all(5 <= d <= 15 for d in delays)  # 10 s * [0.5, 1.5]
    assert max(delays) - min(delays) > 3


def test_the_executor_logs_the_run_as_run_n_of_at_most_m(caplog):
    executor = Executor(RunTable(), FakeRunner(), concurrency=1, settings=Settings)
    with caplog.at_level(logging.INFO, logger="queuectl"):
        executor.execute(job(attempts=2, max_retries=3))
    assert "job j started (run 2 of at most 4): cmd" in [r.getMessage() for r in caplog.records]
