"""The retry policy and config key validation (pure logic)."""

import pytest

from queuectl import backoff, configkeys, errors
from queuectl.models import JobState


def test_delay_is_exponential_and_capped():
    policy = backoff.Policy(backoff_base=2, backoff_max=10)
    assert [backoff.delay(policy, k) for k in (1, 2, 3, 4)] == [2, 4, 8, 10]


def test_huge_exponent_does_not_overflow():
    assert backoff.delay(backoff.Policy(10, 60), 10_000) == 60


def test_max_retries_counts_retries_after_the_first_run():
    policy = backoff.Policy(2, 3600)
    # max_retries=3: runs 1..3 fail into `failed`, run 4 failing makes it dead.
    states = [backoff.after_failure(policy, attempts=k, max_retries=3)[0] for k in (1, 2, 3, 4)]
    assert states == [JobState.FAILED] * 3 + [JobState.DEAD]
    assert backoff.after_failure(policy, attempts=1, max_retries=0) == (JobState.DEAD, 0.0)


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("max_retries", "5", 5),
        ("backoff-base", "1.5", 1.5),
        ("BACKOFF_MAX", "2m", 120.0),
        ("job_timeout", "1500", 1_500_000),  # a bare number is seconds
        ("job_timeout", "1500ms", 1500),
        ("job_timeout", "2s", 2000),
        ("job_timeout", "none", None),
        ("poll_interval", "250ms", 0.25),
        ("lease_timeout", "1h", 3600.0),
        ("retention", "7d", 604800.0),
        ("retention", "0", None),
    ],
)
def test_config_values_parse(key, raw, expected):
    assert configkeys.parse(key, raw)[1] == expected


@pytest.mark.parametrize(
    ("key", "raw", "needle"),
    [
        ("max_retries", "-1", "at least 0"),
        ("max_retries", "three", "whole number"),
        ("backoff_base", "0.5", "at least 1"),
        ("backoff_base", "nan", "finite"),
        ("poll_interval", "0", "more than 0"),
        ("poll_interval", "soon", "duration"),
        ("heartbeat_interval", "-2s", "duration"),
        ("colour", "red", "unknown config key 'colour'"),
    ],
)
def test_config_values_rejected(key, raw, needle):
    with pytest.raises(errors.InvalidConfig) as info:
        configkeys.parse(key, raw)
    assert needle in str(info.value)
    assert info.value.exit_code == 2
