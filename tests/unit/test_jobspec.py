"""Validation of enqueue payloads: every bad field gives one clear error naming it."""

import json
from datetime import UTC, datetime

import pytest

from queuectl import errors
from queuectl.core import jobspec


def test_minimal_job_gets_uuid_and_defaults():
    [spec] = jobspec.parse_payload('{"command": "echo hi"}')
    assert spec.command == "echo hi"
    assert len(spec.id) == 36 and spec.id.count("-") == 4
    assert spec.max_retries is None and spec.priority == 0 and spec.tags == []


def test_all_fields():
    [spec] = jobspec.parse_payload(
        '{"id": "a b\'\\"%_é", "command": "x", "max_retries": 0, "priority": -3,'
        ' "run_at": "2030-01-02T03:04:05+02:00", "timeout": 1500, "tags": ["a", "b", "a"]}'
    )
    assert spec.id == "a b'\"%_é"
    assert spec.max_retries == 0 and spec.priority == -3 and spec.timeout_ms == 1500
    assert spec.run_at == datetime(2030, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert spec.tags == ["a", "b"]


def test_run_at_without_offset_is_utc():
    [spec] = jobspec.parse_payload('{"command": "x", "run_at": "2030-01-02T03:04:05"}')
    assert spec.run_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_array_keeps_order():
    specs = jobspec.parse_payload('[{"command": "a", "id": "1"}, {"command": "b", "id": "2"}]')
    assert [s.id for s in specs] == ["1", "2"]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ("not json", "invalid JSON"),
        ("[]", "empty array"),
        ("42", "expected a JSON object"),
        ('{"cmd": "x"}', "'cmd'"),
        ('{"command": "x", "colour": 1}', "unknown field 'colour'"),
        ('{"id": "x"}', "'command' is required"),
        ('{"command": ""}', "'command' must not be empty"),
        ('{"command": "   "}', "'command' must not be empty"),
        ('{"command": 5}', "'command' must be a string"),
        ('{"command": "a\\u0000b"}', "NUL"),
        ('{"command": "x", "max_retries": -1}', "'max_retries' must not be negative"),
        ('{"command": "x", "max_retries": "3"}', "'max_retries' must be an integer"),
        ('{"command": "x", "max_retries": true}', "'max_retries' must be an integer"),
        ('{"command": "x", "priority": 1.5}', "'priority' must be an integer"),
        ('{"command": "x", "timeout": -5}', "'timeout' must not be negative"),
        ('{"command": "x", "timeout": 0}', "'timeout' must be a positive"),
        ('{"command": "x", "run_at": "tomorrow"}', "'run_at' is not an ISO 8601 date"),
        ('{"command": "x", "run_at": 12}', "'run_at' must be an ISO 8601 string"),
        ('{"command": "x", "tags": "a"}', "'tags' must be a list of strings"),
        ('{"command": "x", "tags": [1]}', "'tags' must be a list of strings"),
        ('{"command": "x", "id": ""}', "'id' must be non-empty"),
        ('{"command": "x", "id": 7}', "'id' must be a string"),
        ('{"command": "x", "id": "a\\nb"}', "'id' must be non-empty printable"),
        ('[{"command": "x", "id": "d"}, {"command": "y", "id": "d"}]', "duplicate id 'd'"),
        ('[{"command": "x"}, {"command": "y", "priority": "hi"}]', "job #2"),
    ],
)
def test_bad_payloads_name_the_problem(payload, needle):
    with pytest.raises(errors.InvalidJob) as info:
        jobspec.parse_payload(payload)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_id_length_limit():
    with pytest.raises(errors.InvalidJob, match="longer than 255"):
        jobspec.parse_payload('{"command": "x", "id": "%s"}' % ("a" * 256))


@pytest.mark.parametrize("key", ["a\x1b]0;x\x07", "tab\tkey", "line\n", "\x9b", "\x7f"])
def test_unique_key_refuses_control_characters_as_id_does(key):
    with pytest.raises(errors.InvalidJob, match="'unique_key' must be non-empty printable"):
        jobspec.parse_payload(json.dumps({"command": "echo hi", "unique_key": key}))
    assert jobspec.parse_payload(json.dumps({"command": "echo", "unique_key": "nightly 1"})
                                 )[0].unique_key == "nightly 1"
