"""The retry policy and config key validation (pure logic)."""

import pytest

from queuectl import errors
from queuectl.core import backoff, configkeys
from queuectl.db.models import JobState


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
    assert backoff.after_failure(policy, attempts=1, max_retries=0) == (JobState.DEAD, 0.0, None)


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
        ("max_retries", "-1", "between 0 and 1000000, got -1"),
        ("max_retries", "three", "whole number"),
        ("max_retries", "2147483648", "between 0 and 1000000"),
        ("max_retries", "9" * 5000, "whole number"),
        ("backoff_base", "0.5", "between 1 and 100"),
        ("backoff_base", "nan", "plain decimal"),
        ("backoff_base", "1e20", "plain decimal"),
        ("backoff_max", "4000000d", "between 1ms and 365d"),
        ("job_timeout", "0.5ms", "between 1ms and"),
        ("job_timeout", "1.5ms", "whole milliseconds"),
        ("job_timeout", "400000d", "between 1ms and 2147483647ms"),
        ("poll_interval", "0", "between 10ms and 1h"),
        ("poll_interval", "0.00001", "between 10ms and 1h"),
        ("poll_interval", "soon", "duration"),
        ("heartbeat_interval", "-2s", "duration"),
        ("heartbeat_interval", "200000d", "between 100ms and 1h"),
        ("lease_timeout", "999999999d", "between 1s and 7d"),
        ("retention", "99999999999999999999d", "between 1s and 36500d"),
        ("colour", "red", "unknown config key 'colour'"),
    ],
)
def test_config_values_rejected(key, raw, needle):
    with pytest.raises(errors.InvalidConfig) as info:
        configkeys.parse(key, raw)
    assert needle in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(("key", "raw"), [
    ("poll_interval", "1e-05"), ("job_timeout", "0.5"), ("max_retries", "2147483648"),
    ("backoff_max", "345600000000"), ("heartbeat_interval", "none"), ("retention", "-1"),
])
def test_stored_values_this_version_cannot_use_are_refused(key, raw):
    with pytest.raises(ValueError):
        configkeys.parse_stored(key, raw)


@pytest.mark.parametrize(("key", "raw", "stored"), [
    ("poll_interval", "0.25", "0.25"), ("poll_interval", "10ms", "0.01"),
    ("job_timeout", "1.5s", "1500"), ("job_timeout", "0.5", "500"), ("retention", "0s", "none"),
    ("backoff_base", "1.0000", "1"), ("lease_timeout", "7d", "604800"),
])
def test_the_stored_form_is_plain_and_reads_back_equal(key, raw, stored):
    try:
        _, value = configkeys.parse(key, raw)
    except errors.InvalidConfig:
        assert stored is None
        return
    assert configkeys.format_value(value) == stored
    assert configkeys.parse_stored(key, stored) == value


@pytest.mark.parametrize("key", sorted(k for k in configkeys.KEYS
                                       if k not in ("retry_on", "no_retry_on")))
@pytest.mark.parametrize("five", ["５", "٥", "۵", "𝟓"])
def test_numbers_are_ascii_digits_only(key, five):
    for raw in (five, f"1{five}", f"{five}s", f"{five}.5"):
        with pytest.raises(errors.InvalidConfig):
            configkeys.parse(key, raw)


@pytest.mark.parametrize("key", ["retry_on", "no_retry_on"])
def test_exit_codes_are_ascii_digits_only(key):
    for raw in ("٦٤", "64,７５", "64-٧٨"):
        with pytest.raises(errors.InvalidConfig):
            configkeys.parse(key, raw)
