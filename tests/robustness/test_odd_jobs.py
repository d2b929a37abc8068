"""Bad input and odd output, through the real CLI and real workers: none crashes a worker, each
is handled and recorded."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import sqlalchemy as sa
from pgcluster import Workers, configure, job_rows, q, wait_until

from queuectl import store

MiB = 1024 * 1024


@pytest.fixture
def pool(clean: sa.Engine, env: dict[str, str], tmp_path: Path):
    configure(clean, heartbeat_interval="0.5s", poll_interval="0.2s", backoff_base="1",
              backoff_max="0.1s", max_retries="0")
    workers = Workers(env, tmp_path / "workers")
    for _ in range(2):
        workers.start("--concurrency", "2")
    yield workers
    workers.stop()


def _enqueue(cli, jobs: list[dict]) -> None:
    result = cli("enqueue", "-", input=json.dumps(jobs))
    assert result.returncode == 0, result.stderr


def _final(engine: sa.Engine, ids: list[str], timeout: float = 60) -> dict[str, sa.Row]:
    def done():
        rows = job_rows(engine)
        return rows if all(rows[i].state in ("completed", "dead") for i in ids) else None

    return wait_until(done, timeout, f"jobs {ids} to finish", interval=0.1)


def _output(engine: sa.Engine, job_id: str) -> tuple[str, bool]:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT output, output_truncated FROM jobs WHERE id = :i"),
                           {"i": job_id}).one()
    return row.output, row.output_truncated


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _healthy(pool: Workers) -> None:
    assert all(p.poll() is None for p in pool.procs), pool.tail()
    assert "Traceback" not in pool.logs(), pool.tail()


def test_odd_output(pool, clean, cli):
    _enqueue(cli, [
        {"id": "latin1", "command": r"printf 'caf\351 \377\376 ok\n'"},
        {"id": "nul", "command": r"printf 'a\000b\n'"},
        {"id": "huge", "command": "head -c 20000000 /dev/zero | tr '\\0' x; echo; echo END"},
        {"id": "huge-fail", "command": "yes 'line of output' | head -c 21000000; exit 4"},
        {"id": "not-found", "command": "no-such-command-queuectl"},
        {"id": "self-kill", "command": "echo dying; kill -9 $$"},
    ])
    rows = _final(clean, ["latin1", "nul", "huge", "huge-fail", "not-found", "self-kill"])
    assert rows["latin1"].state == "completed"
    out, _ = _output(clean, "latin1")
    assert out.startswith("caf\ufffd \ufffd\ufffd ok")
    assert _output(clean, "nul")[0] == "a\ufffdb\n"
    out, truncated = _output(clean, "huge")
    assert rows["huge"].state == "completed" and truncated
    assert out.endswith("x\nEND\n") and MiB - 10 <= len(out) <= MiB
    assert rows["huge-fail"].state == "dead" and rows["huge-fail"].exit_code == 4
    assert "exited with code 4" in rows["huge-fail"].error and _output(clean, "huge-fail")[1]
    assert rows["not-found"].exit_code == 127 and "command not found" in rows["not-found"].error
    assert rows["self-kill"].state == "dead" and "killed by SIGKILL" in rows["self-kill"].error
    _healthy(pool)


def test_daemons_left_behind(pool, clean, cli, scratch):
    bg, detached = scratch / "bg.pid", scratch / "detached.pid"
    _enqueue(cli, [
        # A background child in the job's own process group: killed when the shell exits.
        {"id": "bg", "command": f"sleep 300 & echo $! > {q(str(bg))}; echo parent done"},
        # A daemon that leaves the group (setsid) and keeps stdout open: the run must still end.
        {"id": "daemon", "command": f"setsid sh -c 'echo $$ > {detached}; exec sleep 300' & "
                                    "sleep 0.2; echo launched"},
    ])
    rows = _final(clean, ["bg", "daemon"], timeout=20)
    try:
        assert rows["bg"].state == "completed" and rows["daemon"].state == "completed"
        assert _output(clean, "daemon")[0].strip() == "launched"
        wait_until(lambda: not _alive(int(bg.read_text())), 5, "the background child to die")
        # The setsid daemon escaped the process group, as daemons do; it did not hold up the
        # worker, which goes on with other jobs.
        _enqueue(cli, [{"id": "next", "command": "true"}])
        assert _final(clean, ["next"], timeout=20)["next"].state == "completed"
    finally:
        if detached.exists():
            try:
                os.kill(int(detached.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass
    _healthy(pool)


def test_bad_input_at_enqueue(clean, cli):
    for command in ("", "   \n\t"):
        result = cli("enqueue", json.dumps({"id": "empty", "command": command}))
        assert result.returncode == 2 and "must not be empty" in result.stderr, result
        assert "Traceback" not in result.stderr
    result = cli("enqueue", json.dumps([{"id": "good", "command": "true"},
                                        {"id": "bad", "command": ""}]))
    assert result.returncode == 2
    assert job_rows(clean) == {}, "a rejected batch must enqueue nothing"


def test_long_commands_odd_ids_and_odd_run_at(pool, clean, cli, scratch):
    filler = "x" * (100 * 1024)
    marks = scratch / "marks"
    marks.mkdir()
    odd_ids = ["it's \"quoted\"", "with  spaces", "ünïcødé ☃ 日本", "100%", "under_score",
               "a%_b\\c", "semi;colon $(echo injected)", "-dash"]
    jobs = [{"id": "long", "command": f": '{filler}'; echo long-ok"},
            {"id": "ancient", "command": "echo past", "run_at": "0001-01-01T00:00:00Z"},
            {"id": "future", "command": "echo never", "run_at": "9999-12-31T23:59:59Z"}]
    jobs += [{"id": job_id, "command": f"echo ran > {q(str(marks / str(i)))}"}
             for i, job_id in enumerate(odd_ids)]
    _enqueue(cli, jobs)
    rows = _final(clean, ["long", "ancient", *odd_ids])
    assert all(rows[i].state == "completed" for i in ["long", "ancient", *odd_ids]), rows
    assert _output(clean, "long")[0] == "long-ok\n"
    assert sorted(p.name for p in marks.iterdir()) == sorted(str(i) for i in range(len(odd_ids)))
    for job_id in odd_ids:  # each can be looked up by its exact id
        assert store.get_job(clean, job_id=job_id).id == job_id
    for job_id in odd_ids[:3]:  # and through the CLI
        shown = cli("show", "--json", "--", job_id)
        assert shown.returncode == 0, (job_id, shown.stderr)
        assert json.loads(shown.stdout)["id"] == job_id
    # % and _ are literal in prefix lookups: as wildcards they would match several ids.
    assert json.loads(cli("show", "--json", "--", "a%").stdout)["id"] == "a%_b\\c"
    for pattern in ("%", "_"):
        shown = cli("show", "--", pattern)
        assert shown.returncode == 1 and "no job with id" in shown.stderr, shown
    # Far in the future: never claimed while the workers keep serving other jobs.
    _enqueue(cli, [{"id": "after", "command": "true"}])
    _final(clean, ["after"])
    assert (job_rows(clean)["future"].state, job_rows(clean)["future"].attempts) == ("pending", 0)
    _healthy(pool)


def test_lone_surrogate_in_a_command_is_rejected_at_enqueue(clean, cli):
    result = cli("enqueue", "-", input='{"id": "sur", "command": "echo \\udcff"}')
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-300:]
