"""`.` and `..` are neither job ids nor queue names (a web address cannot carry them)."""

from __future__ import annotations

import pytest

from queuectl import errors
from queuectl.core import jobspec, queuespec


@pytest.mark.parametrize("value", [".", ".."])
def test_dot_segments_are_not_ids_or_queue_names(value):
    with pytest.raises(errors.InvalidJob, match=f"field 'id' must not be '{value}'") as info:
        jobspec.parse_payload(f'{{"command": "true", "id": "{value}"}}')
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    with pytest.raises(errors.InvalidJob, match=f"field 'queue' must not be '{value}'"):
        jobspec.parse_payload(f'{{"command": "true", "queue": "{value}"}}')
    with pytest.raises(errors.UsageError, match=f"queue name must not be '{value}'"):
        queuespec.check_name(value)
    with pytest.raises(errors.UsageError):
        queuespec.parse_names(f"a,{value}")


@pytest.mark.parametrize("value", ["...", ".a", "a.", "a..b", "./", "../x", " .."])
def test_ids_that_only_hold_dots_are_fine(value):
    assert jobspec.parse_payload(f'{{"command": "true", "id": "{value}"}}')[0].id == value
