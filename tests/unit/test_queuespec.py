"""Queue names, rates and concurrency limits as users write them."""

from __future__ import annotations

import pytest

from queuectl import errors
from queuectl.core import jobspec, queuespec


@pytest.mark.parametrize("name", ["default", "a", "emails.high-prio_2", "x" * 64, "A.B-C_9"])
def test_valid_names(name):
    assert queuespec.check_name(name) == name
    assert jobspec.parse_payload(f'{{"command": "true", "queue": "{name}"}}')[0].queue == name


@pytest.mark.parametrize("name", ["", "x" * 65, "a b", "a/b", "é", "a\n", "a,b", "*"])
def test_invalid_names(name):
    with pytest.raises(errors.UsageError):
        queuespec.check_name(name)


def test_queue_defaults_to_default_and_must_be_a_string():
    assert jobspec.parse_payload('{"command": "true"}')[0].queue == "default"
    for value in ("7", "null", "[]", '"a b"'):
        with pytest.raises(errors.InvalidJob, match="field 'queue'"):
            jobspec.parse_payload(f'{{"command": "true", "queue": {value}}}')


@pytest.mark.parametrize(("text", "count", "period", "shown"), [
    ("10/s", 10, 1, "10/s"), ("100/m", 100, 60, "100/m"), ("5/h", 5, 3600, "5/h"),
    (" 3 / S ", 3, 1, "3/s"),
])
def test_rates(text, count, period, shown):
    rate = queuespec.parse_rate(text)
    assert rate is not None
    assert (rate.count, rate.period, str(rate)) == (count, period, shown)
    assert rate.spacing == period / count


@pytest.mark.parametrize("text", ["0/s", "5/fortnight", "5", "/s", "-1/s", "1.5/s", "5/d",
                                  "10/ss", "99999999999/s", ""])
def test_invalid_rates(text):
    with pytest.raises(errors.UsageError):
        queuespec.parse_rate(text)


def test_none_clears():
    assert queuespec.parse_rate("none") is None
    assert queuespec.parse_concurrency("None") is None


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("12", 12), (" 3 ", 3)])
def test_concurrency(text, value):
    assert queuespec.parse_concurrency(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "two", "", "99999999999"])
def test_invalid_concurrency(text):
    with pytest.raises(errors.UsageError):
        queuespec.parse_concurrency(text)


def test_worker_queue_lists():
    assert queuespec.parse_names(None) is None
    assert queuespec.parse_names("a, b,a") == ["a", "b"]
    with pytest.raises(errors.UsageError):
        queuespec.parse_names("a,,b")


#: Digits of other scripts, which `\d`, `str.isdigit()` and `int()` all take for 5.
UNICODE_FIVES = ["５", "٥", "۵", "५", "𝟓"]


@pytest.mark.parametrize("five", UNICODE_FIVES)
def test_numbers_are_ascii_digits_only(five):
    with pytest.raises(errors.UsageError, match="invalid concurrency"):
        queuespec.parse_concurrency(five)
    with pytest.raises(errors.UsageError, match="invalid rate"):
        queuespec.parse_rate(f"{five}/s")
    with pytest.raises(errors.UsageError, match="invalid rate"):
        queuespec.parse_rate(f"1{five}/m")


@pytest.mark.parametrize(("text", "parse", "kind"), [
    ("2147483648/s", queuespec.parse_rate, "rate"),
    ("9999999999/h", queuespec.parse_rate, "rate"),
    ("2147483648", queuespec.parse_concurrency, "concurrency"),
])
def test_a_number_over_the_limit_says_the_range(text, parse, kind):
    with pytest.raises(errors.UsageError, match=f"invalid {kind} .*from 1 to 2147483647"):
        parse(text)
    assert parse(text.replace("2147483648", "2147483647").replace("9999999999", "2147483647"))
