"""Run many `queuectl` invocations in one process, through the real entry point
(`queuectl.cli.main`: argument parsing, the error boundary, exit codes), so that a corpus of
hundreds of cases takes seconds instead of a process start-up each.

    python -m tests.hostile.harness CASES.json RESULTS.json

CASES is a list of {"argv": [...], "stdin": "<hex>"}; arguments that were not UTF-8 on a real
command line appear as Python does it (lone surrogates, which JSON writes as \\udcXX).
RESULTS gets, for each case, {"code", "stdout", "stderr", "traceback"}.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import sys
import traceback

from queuectl import cli

_CASE_SECONDS = 20


def _timed_out(_signum: int, _frame: object) -> None:
    raise TimeoutError(f"still running after {_CASE_SECONDS}s")


def run_one(argv: list[str], stdin: bytes) -> dict[str, object]:
    """One invocation as `queuectl ARGV... < STDIN`."""
    out, err = io.BytesIO(), io.BytesIO()
    streams = [io.TextIOWrapper(b, encoding="utf-8", errors="backslashreplace",
                                write_through=True) for b in (out, err)]
    sys.argv = ["queuectl", *argv]
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    code, crash = 0, None
    # A case that should be refused but starts a worker or a server instead fails fast.
    signal.alarm(_CASE_SECONDS)
    with contextlib.redirect_stdout(streams[0]), contextlib.redirect_stderr(streams[1]):
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:  # what a user would have seen as a traceback
            code, crash = 1, traceback.format_exc()
        finally:
            signal.alarm(0)
    return {"code": code, "stdout": out.getvalue().decode("utf-8", "replace"),
            "stderr": err.getvalue().decode("utf-8", "replace"), "traceback": crash}


def main() -> None:
    """Read the cases, run each, write the results."""
    cases_path, results_path = sys.argv[1:3]
    signal.signal(signal.SIGALRM, _timed_out)
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    results = [run_one(c["argv"], bytes.fromhex(c.get("stdin", ""))) for c in cases]
    with open(results_path, "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
