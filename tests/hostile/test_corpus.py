"""The hostile corpus, through the real command line, in batches (see harness.py).

- `payloads/rejected/*`: each refused on standard input (and as an argument, when the bytes
  can be one) with exit 2 and one `error:` line, nothing on stdout, nothing written;
- `payloads/accepted/*`: each enqueued;
- `arguments.json`: odd arguments (numbers beyond any column, bytes that are not UTF-8, ids
  with wildcards, config values that once crashed the fleet), each with its exit code and
  one `error:` line, changing nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import ROOT

HERE = Path(__file__).resolve().parent
REJECTED = sorted((HERE / "payloads" / "rejected").glob("*.json"))
ACCEPTED = sorted((HERE / "payloads" / "accepted").glob("*.json"))
ARGUMENTS = json.loads((HERE / "arguments.json").read_text())


def run_batches(env: dict[str, str], tmp_path: Path, batches: list[list[dict]]) -> list[dict]:
    """Run each batch of cases in its own harness process, all at once; results in order."""
    procs = []
    for i, batch in enumerate(batches):
        cases, results = tmp_path / f"cases-{i}.json", tmp_path / f"results-{i}.json"
        cases.write_text(json.dumps(batch))
        procs.append((subprocess.Popen(
            [sys.executable, "-m", "tests.hostile.harness", str(cases), str(results)],
            env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True), results))
    out = []
    for proc, results in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        out += json.loads(results.read_text())
    return out


def as_argument(data: bytes) -> str | None:
    """The payload as a command-line argument, if a command line can carry those bytes."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def problems(case: dict, result: dict, code: int) -> list[str]:
    """What is wrong with one result, for a refusal with exit `code`."""
    found = []
    if result["traceback"] or "Traceback" in result["stderr"]:
        found.append("traceback: " + (result["traceback"] or result["stderr"])[-300:])
    if result["code"] != code:
        found.append(f"exit {result['code']}, expected {code}")
    lines = result["stderr"].splitlines()
    if len(lines) != 1 or not lines[0].startswith("error: "):
        found.append(f"stderr is not one error line: {result['stderr'][:300]!r}")
    if result["stdout"]:
        found.append(f"stdout: {result['stdout'][:200]!r}")
    return [f"{case['name']}: {p}" for p in found]


def table_state(engine: sa.Engine) -> tuple:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.text(f"SELECT count(*), md5(coalesce(string_agg("
                                          f"t::text, '|' ORDER BY t::text), '')) FROM {t} t")
                                  ).one() for t in ("jobs", "config", "metrics"))


def refusals() -> list[dict]:
    cases = []
    for path in REJECTED:
        data = path.read_bytes()
        cases.append({"name": f"stdin {path.stem}", "argv": ["enqueue", "-"],
                      "stdin": data.hex(), "exit": 2})
        argument = as_argument(data)
        if argument is not None:
            cases.append({"name": f"argument {path.stem}", "argv": ["enqueue", argument],
                          "exit": 2})
    for i, case in enumerate(ARGUMENTS):
        cases.append({**case, "name": f"arguments.json #{i} {case['argv']!r}"[:120]})
    return cases


def test_the_corpus_is_there():
    assert len(REJECTED) >= 100 and len(ACCEPTED) >= 15 and len(ARGUMENTS) >= 100


def test_hostile_input_is_one_error_line_and_changes_nothing(clean, env, tmp_path):
    before = table_state(clean)
    cases = refusals()
    results = run_batches(env, tmp_path, [cases[0::2], cases[1::2]])
    ordered = cases[0::2] + cases[1::2]
    found = [p for case, result in zip(ordered, results, strict=True)
             for p in problems(case, result, case["exit"])]
    assert not found, f"{len(found)} problem(s):\n" + "\n".join(found)
    assert table_state(clean) == before


@pytest.mark.parametrize("encoding", ["stdin", "argument"])
def test_accepted_payloads_are_enqueued(clean, env, tmp_path, encoding):
    cases = []
    for path in ACCEPTED:
        data = path.read_bytes()
        if encoding == "stdin":
            cases.append({"name": path.stem, "argv": ["enqueue", "-"], "stdin": data.hex()})
        else:
            cases.append({"name": path.stem, "argv": ["enqueue", as_argument(data)]})
    results = run_batches(env, tmp_path, [cases])
    found = [f"{c['name']}: exit {r['code']}: {r['stderr'] or r['traceback']}"
             for c, r in zip(cases, results, strict=True)
             if r["code"] != 0 or not r["stdout"].startswith("Job ")]
    assert not found, "\n".join(found)
    enqueued = sum(r["stdout"].count(" enqueued") for r in results)
    with clean.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar() == enqueued
