"""Job ids and queue names `.` and `..` are refused (a web address cannot carry them: the
dashboard could never open such a job or queue), with one line, exit 2, nothing written."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.cli.checks import one_error_line, snapshot


def queue_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM queues")).scalar_one()


@pytest.mark.parametrize("args", [
    ["enqueue", '{"command": "true", "id": "."}'],
    ["enqueue", '{"command": "true", "id": ".."}'],
    ["enqueue", '[{"command": "true", "id": "fine"}, {"command": "true", "id": ".."}]'],
    ["enqueue", '{"command": "true", "queue": ".."}'],
    ["enqueue", '{"command": "true", "queue": "."}'],
    ["queue", "pause", ".."],
    ["queue", "resume", "."],
    ["queue", "set", "..", "--concurrency", "2"],
    ["list", "--queue", ".."],
], ids=" ".join)
def test_dot_ids_and_queue_names_are_one_line_exit_2(clean, cli, args):
    before, queues = snapshot(clean), queue_rows(clean)
    line = one_error_line(cli(*args), 2)
    assert "a web address cannot carry it" in line
    assert snapshot(clean) == before and queue_rows(clean) == queues


@pytest.mark.parametrize("name", ["...", ".a", "a.", "a..b"])
def test_names_with_dots_that_are_not_dot_segments_still_work(clean, cli, name):
    payload = json.dumps({"command": "true", "id": f"{name}/..", "queue": name})
    result = cli("enqueue", "--json", payload)
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert (job["id"], job["queue"]) == (f"{name}/..", name)
