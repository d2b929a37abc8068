"""Per-job log files (`worker start --job-log-dir`): the file name of any job id stays inside
the directory, the header/output/footer of each run, the cap, and I/O errors that never fail
the job. The runner feeding a log is real (`echo` only); no database."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

import pytest

from queuectl.worker import joblogs
from queuectl.worker.runner import Runner
from tests.conftest import wait_for

HOSTILE = ["../x", "a/b", ".", "..", "...", ".hidden", "/abs", "a/../../b", "sp ace",
           "quo'te\"", "$(echo pwned)", "`id`", "back\\slash", "%2F", "~tilde", "é日本",
           "a" * 255, "é" * 255, "a" * 255 + "b", "x" * 300 + "/../y", "-rf", "nul\x00?"]


@pytest.mark.parametrize("job_id", HOSTILE, ids=lambda i: repr(i)[:30])
def test_every_id_names_one_plain_file_inside_the_directory(tmp_path, job_id):
    name = joblogs.file_name(job_id)
    assert "/" not in name and "\x00" not in name and not name.startswith(".")
    assert name.endswith(".log") and name not in (".log", "..log")
    assert len((name + ".1").encode()) <= 255  # NAME_MAX, with the rotated file's suffix
    path = joblogs.JobLogs(tmp_path).path_for(job_id)
    assert path.parent == tmp_path and path.resolve().parent == tmp_path.resolve()
    path.write_text("ok")  # the file system takes the name as it is
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert joblogs.file_name(job_id) == name  # deterministic


def test_names_keep_plain_ids_readable_and_never_share_a_file():
    assert joblogs.file_name("nightly-report_2.v1") == "nightly-report_2.v1.log"
    assert joblogs.file_name("a/b") == "a%2Fb.log"
    assert joblogs.file_name("..") == "%2E..log"
    names = {joblogs.file_name(i) for i in HOSTILE + ["a%2Fb", "%2E.", "a" * 254 + "c"]}
    assert len(names) == len(HOSTILE) + 3
    long = joblogs.file_name("a" * 300)
    assert "~" in long and long != joblogs.file_name("a" * 301)


def _run(logs: joblogs.JobLogs, job_id: str, command: str, attempt: int = 1) -> Path:
    run = logs.start(job_id, attempt=attempt, attempts=2)
    runner = Runner()
    try:
        outcome = runner.run(command, sink=run.feed)
    finally:
        runner.close()
    run.finish("completed" if outcome.ok else outcome.error or "failed")
    return run.path


def test_each_run_appends_a_header_its_output_and_a_footer(tmp_path):
    logs = joblogs.JobLogs(tmp_path, host="h1")
    path = _run(logs, "a/b", "echo first; exit 3")
    _run(logs, "a/b", "printf 'no newline'", attempt=2)
    lines = path.read_text().splitlines()
    assert lines[0].startswith('=== job "a/b" attempt 1 of 2 on host h1, started 20')
    assert lines[1:3] == ["first", "=== exited with code 3: first ==="]
    assert lines[3].startswith('=== job "a/b" attempt 2 of 2 on host h1')
    assert lines[4:] == ["no newline", "=== completed ==="]
    assert list(tmp_path.iterdir()) == [path] and path.stat().st_mode & 0o777 == 0o600


def test_output_is_in_the_file_while_the_command_runs(tmp_path):
    logs = joblogs.JobLogs(tmp_path)
    run = logs.start("live", attempt=1, attempts=1)
    flag = tmp_path / "seen"
    runner = Runner()
    # The command waits (bounded) until the test has seen its first line in the log file.
    script = (f"echo started; i=0; while [ ! -e {flag} ] && [ $i -lt 200 ]; do sleep 0.05; "
              "i=$((i+1)); done; echo done")
    try:
        thread = threading.Thread(target=lambda: runner.run(script, sink=run.feed))
        thread.start()
        wait_for(lambda: "started" in run.path.read_text(), timeout=10,
                 message="live output in the log file")
        flag.touch()
        thread.join(20)
    finally:
        runner.close()
    run.finish("completed")
    assert run.path.read_text().splitlines()[1:] == ["started", "done", "=== completed ==="]


def test_a_file_over_the_cap_rotates_to_one_older_file(tmp_path):
    logs = joblogs.JobLogs(tmp_path, max_bytes=4096)
    path = _run(logs, "big", "i=0; while [ $i -lt 1000 ]; do echo line-$i; i=$((i+1)); done")
    older = tmp_path / "big.log.1"
    assert path.stat().st_size <= 4096 and older.stat().st_size <= 4096
    text = older.read_text() + path.read_text()
    assert "line-999" in path.read_text() and "=== completed ===" in path.read_text()
    assert "continued (the earlier part is in big.log.1)" in path.read_text()
    assert "bytes of output left out" in text  # 1000 lines are more than 4 KiB at once
    _run(logs, "big", "echo again")  # a later run of a full file rotates it first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.log", "big.log.1"]
    assert all(p.stat().st_size <= 4096 for p in tmp_path.iterdir())


def test_an_unwritable_log_is_one_warning_and_the_run_goes_on(tmp_path, caplog):
    logs = joblogs.JobLogs(tmp_path)
    target = tmp_path / "elsewhere"
    os.symlink(target, logs.path_for("trap"))  # a planted symlink is never written through
    caplog.set_level(logging.WARNING, logger="queuectl.worker")
    run = logs.start("trap", attempt=1, attempts=1)
    runner = Runner()
    try:
        outcome = runner.run("echo one; echo two", sink=run.feed)
    finally:
        runner.close()
    run.finish("completed")
    assert outcome.ok and outcome.output == "one\ntwo\n"
    assert not target.exists()
    warnings = [r for r in caplog.records if "cannot write its log file" in r.getMessage()]
    assert len(warnings) == 1


def test_feeding_survives_a_closed_output_file(tmp_path, caplog):
    run = joblogs.JobLogs(tmp_path).start("x", attempt=1, attempts=1)
    caplog.set_level(logging.WARNING, logger="queuectl.worker")
    with tempfile.TemporaryFile() as out:
        out.write(b"abc")
    run.feed(out)  # closed: ValueError inside, one warning, no exception
    run.finish("completed")
    assert len([r for r in caplog.records if "cannot write" in r.getMessage()]) == 1
