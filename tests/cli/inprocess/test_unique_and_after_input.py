"""The `unique_key` and `after` job fields in process: duplicates in one array and in `--json`,
bad input that changes nothing, `pause` and `cancel` of a waiting job. (Concurrent enqueues
and chains run by real workers: tests/cli/test_unique_and_after.py.)"""

import json

import sqlalchemy as sa

from tests.cli.checks import one_error_line, snapshot
from tests.cli.test_unique_and_after import _jobs


def test_duplicate_keys_in_one_array_and_json(clean, cli):
    cli("enqueue", '{"id": "held", "command": "true", "unique_key": "a"}')
    payload = json.dumps([
        {"id": "p1", "command": "true", "unique_key": "b"},
        {"id": "p2", "command": "true", "unique_key": "b"},
        {"id": "p3", "command": "true", "unique_key": "a"},
        {"id": "p4", "command": "true"},
    ])
    result = cli("enqueue", "-", input=payload)
    assert result.stdout.splitlines() == [
        "Job p1 enqueued", "Job p1 already enqueued (unique_key b)",
        "Job held already enqueued (unique_key a)", "Job p4 enqueued"]
    assert sorted(_jobs(clean)) == ["held", "p1", "p4"]
    out = json.loads(cli("enqueue", "--json", '{"command": "x", "unique_key": "b"}').stdout)
    assert (out["id"], out["duplicate"], out["unique_key"]) == ("p1", True, "b")
    out = json.loads(cli("enqueue", "--json", '{"id": "n", "command": "x"}').stdout)
    assert (out["id"], out["duplicate"], out["unique_key"], out["after"]) == \
        ("n", False, None, [])


def test_a_job_created_cancelled_holds_no_key_in_its_array(clean, cli):
    """Its dependency is dead: it is created cancelled, and a later job with its key is
    created, not dropped as "already enqueued"."""
    cli("enqueue", '{"id": "gone", "command": "exit 1", "max_retries": 0}')
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET state = 'dead', finished_at = now()"))
    payload = json.dumps([
        {"id": "first", "command": "true", "unique_key": "k", "after": ["gone"]},
        {"id": "second", "command": "true", "unique_key": "k"},
    ])
    result = cli("enqueue", "-", input=payload)
    assert result.stdout.splitlines() == [
        "Job first enqueued and cancelled: dependency gone ended dead", "Job second enqueued"]
    assert sorted(_jobs(clean)) == ["first", "gone", "second"]


def test_a_taken_id_is_reported_before_the_cycle_it_makes(clean, cli):
    cli("enqueue", '{"id": "x", "command": "true"}')
    before = snapshot(clean)
    taken = cli("enqueue", '{"id": "x", "command": "true", "after": ["x"]}')
    assert one_error_line(taken, 1) == \
        "error: a job with id 'x' already exists; nothing was enqueued"
    payload = '[{"id": "new", "command": "x", "after": ["x"]}, ' \
              '{"id": "x", "command": "x", "after": ["new"]}]'
    assert "id 'x' already exists" in one_error_line(cli("enqueue", payload), 1)
    cycle = cli("enqueue", '{"id": "y", "command": "true", "after": ["y"]}')
    assert "cycle: y -> y" in one_error_line(cycle, 2)
    assert snapshot(clean) == before


def test_bad_after_and_unique_key_change_nothing(clean, cli):
    cli("enqueue", '{"id": "there", "command": "true"}')
    before = snapshot(clean)
    cases = [
        ('{"command": "x", "after": ["there", "missing"]}', "'missing', which does not exist"),
        ('[{"id": "x", "command": "x", "after": ["y"]}, {"id": "y", "command": "x", '
         '"after": ["z"]}, {"id": "z", "command": "x", "after": ["x"]}]', "cycle: x -> y -> z"),
        ('{"id": "self", "command": "x", "after": ["self"]}', "cycle: self -> self"),
        ('{"command": "x", "after": "there"}', "'after' must be a list of job ids"),
        ('{"command": "x", "after": [1]}', "'after' must be a list of job ids"),
        ('{"command": "x", "unique_key": 5}', "'unique_key' must be a string"),
        ('{"command": "x", "unique_key": ["a"]}', "'unique_key' must be a string"),
        ('{"command": "x", "unique_key": ""}', "'unique_key' must be non-empty"),
    ]
    for payload, message in cases:
        line = one_error_line(cli("enqueue", payload), 2)
        assert message in line, (payload, line)
    with clean.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM job_deps")).scalar() == 0
    assert snapshot(clean) == before


def test_pause_refuses_a_waiting_job_and_cancel_takes_it(clean, cli):
    cli("enqueue", "-", input=json.dumps([{"id": "first", "command": "true",
                                           "run_at": "2999-01-01T00:00:00Z"},
                                          {"id": "second", "command": "true",
                                           "after": ["first"]}]))
    assert "it is waiting" in one_error_line(cli("pause", "second"), 1)
    assert cli("cancel", "first").returncode == 0
    assert _jobs(clean)["second"]["error"] == "dependency first ended cancelled"
