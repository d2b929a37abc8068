"""Property: any value `config set` accepts is stored in a form read back equal, and is one a
worker can use (no interval, timestamp, int4 or timer overflow). Pure: see
tests/cli/test_config_roundtrip.py for the same through PostgreSQL and a real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from queuectl import errors
from queuectl.core import backoff, configkeys

INT4 = 2**31 - 1
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # far from Python's year 9999 and PostgreSQL's

_numbers = st.one_of(
    st.integers(0, 10**13).map(str),
    st.decimals(min_value=0, max_value=10**11, places=4, allow_nan=False).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet="0123456789.e-+_ x\u0660", max_size=14),
)
_units = st.sampled_from(["", "ms", "s", "m", "h", "d", " s", "D", "sec", "µs"])
_codes = st.lists(st.one_of(st.integers(-5, 300).map(str),
                            st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 300),
                                      st.integers(0, 300))), max_size=5)
RAW = st.one_of(
    st.builds(lambda n, u: n + u, _numbers, _units),
    st.builds(lambda parts, sep: sep.join(parts), _codes, st.sampled_from([",", " ", ", "])),
    st.sampled_from(["none", "off", "0", "", " ", "NONE", "0s", "0.0", "nan", "inf"]),
    st.text(max_size=20),
)
KEY = st.sampled_from(sorted(configkeys.KEYS))


def usable(key: str, value: configkeys.Value) -> None:
    """Assert a worker can use `value` for `key` wherever it uses it."""
    spec = configkeys.KEYS[key]
    if value is None:
        assert spec.default is None or key == "retention"
        return
    if key in ("retry_on", "no_retry_on"):
        assert isinstance(value, tuple) and value and list(value) == sorted(set(value))
        assert all(isinstance(c, int) and 1 <= c <= 255 for c in value)
        return
    assert not isinstance(value, tuple)
    if key == "backoff_jitter":
        assert 0 <= value <= 1
        return
    if key == "max_retries":
        assert isinstance(value, int) and 0 <= value and value + 1 <= INT4
        return
    if key == "backoff_base":
        policy = backoff.Policy(float(value), 365 * 86400.0)
        for failures in (1, 2, 64, 1_000_001):
            delay = backoff.delay(policy, failures)
            assert 0 < delay <= 365 * 86400
            assert datetime.now(UTC) + timedelta(seconds=delay) < LATEST
        return
    seconds = value / 1000 if spec.unit == "ms" else value
    assert 0.001 <= seconds
    if spec.unit == "ms":
        assert isinstance(value, int) and value <= INT4
    assert datetime.now(UTC) + timedelta(seconds=seconds) < LATEST
    assert datetime.now(UTC) - timedelta(seconds=seconds) > datetime(1000, 1, 1, tzinfo=UTC)


@settings(max_examples=1500, deadline=None)
@given(KEY, RAW)
def test_any_accepted_value_reads_back_equal_and_is_usable(key, raw):
    try:
        name, value = configkeys.parse(key, raw)
    except errors.InvalidConfig:
        return
    stored = configkeys.format_value(value)
    assert "e" not in stored.lower() or stored == "none"
    assert configkeys.parse_stored(name, stored) == value
    assert configkeys.format_value(configkeys.parse_stored(name, stored)) == stored
    usable(name, value)


@given(KEY, RAW)
def test_the_stored_reader_never_raises_anything_but_value_error(key, raw):
    try:
        configkeys.parse_stored(key, raw)
    except ValueError:
        pass
