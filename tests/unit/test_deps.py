"""Pure policy of the `unique_key` and `after` fields: validation, cycles, duplicates inside
one payload, and the state each new job starts in."""

import json

import pytest

from queuectl import errors
from queuectl.core import deps, jobspec
from queuectl.core.jobspec import JobSpec, find_cycle, parse_payload
from queuectl.core.records import JobState


def test_find_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"a": ["b", "c"], "b": ["c"], "c": []}) is None  # a diamond
    assert find_cycle({"a": ["outside"], "b": ["a"]}) is None
    assert find_cycle({"x": [], "a": ["b"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]


def test_find_cycle_on_a_long_chain_does_not_recurse():
    chain = {str(i): [str(i + 1)] for i in range(50_000)}
    assert find_cycle(chain) is None
    chain["49999"] = ["0"]
    assert len(find_cycle(chain)) == 50_001


@pytest.mark.parametrize(("field", "value", "message"), [
    ("unique_key", 1, "'unique_key' must be a string"),
    ("unique_key", True, "'unique_key' must be a string"),
    ("unique_key", {"a": 1}, "'unique_key' must be a string"),
    ("unique_key", "", "non-empty"),
    ("unique_key", "a\u0000b", "non-empty text without NULs"),
    ("unique_key", "k" * 256, "longer than 255"),
    ("after", "a", "'after' must be a list"),
    ("after", [None], "'after' must be a list"),
    ("after", [["a"]], "'after' must be a list"),
    ("after", [""], "'after' must hold job ids"),
])
def test_bad_fields(field, value, message):
    with pytest.raises(errors.InvalidJob, match=message):
        parse_payload(json.dumps({"command": "x", field: value}))


def test_cycle_in_a_payload_is_refused():
    payload = [{"id": "a", "command": "x", "after": ["b"]},
               {"id": "b", "command": "x", "after": ["a"]}]
    with pytest.raises(errors.InvalidJob, match=r"cycle: a -> b -> a"):
        parse_payload(json.dumps(payload))


def test_a_long_cycle_is_named_by_its_first_ids_and_its_length():
    payload = [{"id": f"job-{i}", "command": "x", "after": [f"job-{(i + 1) % 5000}"]}
               for i in range(5000)]
    with pytest.raises(errors.DependencyCycle) as caught:
        parse_payload(json.dumps(payload))
    assert str(caught.value) == (
        "'after' makes a cycle of 5000 jobs: job-0 -> job-1 -> job-2 -> job-3 -> job-4 -> "
        "... -> job-0; nothing was enqueued")
    assert caught.value.ids[:2] == ["job-0", "job-1"] and len(caught.value.ids) == 5000
    six = [{"id": i, "command": "x", "after": [j]} for i, j in zip("abcdef", "bcdefa", strict=True)]
    with pytest.raises(errors.DependencyCycle, match=r"cycle: a -> b -> c -> d -> e -> f -> a;"):
        parse_payload(json.dumps(six))


def test_good_fields():
    [spec] = parse_payload('{"command": "x", "unique_key": "k", "after": ["a", "b", "a"]}')
    assert (spec.unique_key, spec.after) == ("k", ["a", "b"])
    [spec] = parse_payload('{"command": "x", "unique_key": null, "after": null}')
    assert (spec.unique_key, spec.after) == (None, [])
    assert "unique_key" in jobspec.FIELDS and "after" in jobspec.FIELDS


def test_first_of_keys():
    specs = [JobSpec("a", "x", unique_key="k"), JobSpec("b", "x"), JobSpec("c", "x",
             unique_key="k"), JobSpec("d", "x", unique_key="j"), JobSpec("e", "x",
             unique_key="k")]
    assert deps.first_of_keys(specs) == {"c": "a", "e": "a"}


def test_start_states():
    specs = [
        JobSpec("late", "x", after=["mid"]),  # before the job it waits for
        JobSpec("mid", "x", after=["root"]),
        JobSpec("root", "x"),
        JobSpec("on-done", "x", after=["done"]),
        JobSpec("on-dead", "x", after=["done", "dead"]),
        JobSpec("after-cancelled", "x", after=["on-dead"]),
        JobSpec("on-running", "x", after=["done", "running"]),
    ]
    existing = {"done": JobState.COMPLETED, "dead": JobState.DEAD,
                "running": JobState.PROCESSING}
    starts = deps.start_states(specs, existing)
    assert {k: (v.state.value, v.error) for k, v in starts.items()} == {
        "root": ("pending", None),
        "mid": ("waiting", None),
        "late": ("waiting", None),
        "on-done": ("pending", None),
        "on-dead": ("cancelled", "dependency dead ended dead"),
        "after-cancelled": ("cancelled", "dependency on-dead ended cancelled"),
        "on-running": ("waiting", None),
    }


D, C, DONE, RUN = JobState.DEAD, JobState.CANCELLED, JobState.COMPLETED, JobState.PROCESSING


def test_a_retry_is_blocked_by_a_dependency_that_ended_and_is_not_retried_with_it():
    after = {"b": [("a", D)], "c": [("b", C)]}
    blocked = deps.retry_blocker(["b"], after)
    assert blocked == deps.Blocked("b", "a", D)
    assert blocked.message() == ("cannot retry job b: its dependency a is dead and would never "
                                 "complete; retry both (queuectl retry a b); nothing was changed")
    assert deps.retry_blocker(["a", "b", "c"], after) is None
    assert deps.retry_blocker(["c", "b"], after) == deps.Blocked("b", "a", D)
    assert "retry 'a b' x" in deps.Blocked("x", "a b", C).message()  # quoted for the shell


def test_retried_jobs_wait_for_what_has_not_completed_or_is_retried_with_them():
    after = {"b": [("a", DONE)], "c": [("b", D), ("z", DONE)], "d": [("x", RUN)]}
    assert deps.retry_states(["b", "d", "e"], after) == {
        "b": JobState.PENDING, "d": JobState.WAITING, "e": JobState.PENDING}
    assert deps.retry_states(["a", "b", "c"], after) == {
        "a": JobState.PENDING, "b": JobState.WAITING, "c": JobState.WAITING}


def test_a_bulk_retry_leaves_out_what_would_wait_on_a_job_left_as_it_is():
    after = {"b": [("a", C)], "c": [("b", D)], "d": [("c", D)], "f": [("e", D)]}
    assert deps.retryable(["b", "c", "d", "e", "f"], after) == ["e", "f"]
    assert deps.retryable(["a", "b", "c", "d"], after) == ["a", "b", "c", "d"]
