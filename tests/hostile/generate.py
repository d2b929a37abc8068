"""Write the hostile enqueue corpus (run once; the files are committed and reviewed as data):

    python -m tests.hostile.generate

`payloads/rejected/*.json` must each be refused with one line and exit 2, changing nothing;
`payloads/accepted/*.json` must each be enqueued. The bytes are exactly what reaches
`queuectl enqueue -` on standard input. Add a case by adding a file (any name).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent / "payloads"


def job(**fields: object) -> str:
    return json.dumps({"command": "true", **fields})


def rejected() -> dict[str, bytes | str]:
    cases: dict[str, bytes | str] = {
        # not JSON, or not a job
        "empty": "", "blank": " \n\t", "open-brace": "{", "open-bracket": "[",
        "bare-word": "echo hi", "single-quotes": "{'command': 'true'}",
        "trailing-garbage": job() + "x", "two-objects": job() + job(),
        "comment": '{"command": "true" /* hi */}', "trailing-comma": '{"command": "true",}',
        "number": "42", "string": '"true"', "null": "null", "true": "true",
        "empty-array": "[]", "array-of-numbers": "[1, 2]", "array-of-arrays": "[[]]",
        "nan-top": "NaN", "empty-object": "{}",
        # nesting and numbers beyond any field
        "nested-1000-arrays": "[" * 1000 + "]" * 1000,
        "nested-100000-arrays": "[" * 100_000 + "]" * 100_000,
        "nested-1000-objects": '{"a":' * 1000 + "1" + "}" * 1000,
        "nested-in-tags": '{"command": "x", "tags": ' + "[" * 1000 + "]" * 1000 + "}",
        "int-4301-digits": '{"command": "x", "priority": ' + "9" * 4301 + "}",
        "int-5000-negative": '{"command": "x", "max_retries": -' + "1" * 5000 + "}",
        "int-in-unknown-field": '{"command": "x", "z": ' + "9" * 5000 + "}",
        "float-1e400": '{"command": "x", "priority": 1e400}',
        "nan-priority": '{"command": "x", "priority": NaN}',
        "inf-timeout": '{"command": "x", "timeout": Infinity}',
        # duplicate keys
        # Never a destructive command here: a worker may run whatever slips through.
        "duplicate-command": '{"command": "true", "command": "echo second-key-won"}',
        "duplicate-id": '{"id": "a", "command": "x", "id": "b"}',
        "duplicate-in-array": '[{"command": "a"}, {"command": "b", "command": "c"}]',
        "duplicate-ids-in-array": json.dumps([{"id": "d", "command": "a"},
                                              {"id": "d", "command": "b"}]),
        # command
        "no-command": '{"id": "x"}', "command-null": '{"command": null}',
        "command-number": '{"command": 1}', "command-empty": '{"command": ""}',
        "command-blank": '{"command": "  \\n "}', "command-list": '{"command": ["ls"]}',
        "command-object": '{"command": {}}', "command-nul": '{"command": "a\\u0000b"}',
        "command-lone-surrogate": '{"command": "\\ud800"}',
        "command-over-1mib": job(command="x" * (1024 * 1024 + 1)),
        # id
        "id-empty": job(id=""), "id-blank": job(id="   "), "id-newline": job(id="a\nb"),
        "id-tab": job(id="a\tb"), "id-nul": job(id="a\x00b"), "id-escape": job(id="\x1b[31m"),
        "id-del": job(id="a\x7f"), "id-surrogate": '{"command": "x", "id": "\\udcff"}',
        "id-256": job(id="i" * 256), "id-number": job(id=1), "id-true": job(id=True),
        "id-list": job(id=["a"]), "id-line-separator": job(id="a\u2028b"),
        # unknown fields
        "field-cmd": '{"cmd": "true"}', "field-Command": '{"Command": "true"}',
        "field-proto": job(__proto__={}), "field-state": job(state="completed"),
        "field-attempts": job(attempts=0), "field-empty-name": job(**{"": 1}),
        # integers
        "retries-negative": job(max_retries=-1), "retries-int4": job(max_retries=2**31),
        "retries-string": job(max_retries="3"), "retries-true": job(max_retries=True),
        "retries-fraction": job(max_retries=1.5), "retries-list": job(max_retries=[]),
        "priority-over": job(priority=2**31), "priority-under": job(priority=-(2**31) - 1),
        "priority-string": job(priority="1"), "priority-null": job(priority=None),
        "priority-false": job(priority=False),
        "timeout-zero": job(timeout=0), "timeout-negative": job(timeout=-1),
        "timeout-int4": job(timeout=2**31), "timeout-string": job(timeout="1s"),
        "timeout-fraction": job(timeout=1.5), "timeout-true": job(timeout=True),
        # run_at
        "run-at-empty": job(run_at=""), "run-at-word": job(run_at="tomorrow"),
        "run-at-number": job(run_at=0), "run-at-year-0": job(run_at="0000-01-01T00:00:00Z"),
        "run-at-before-year-1": job(run_at="0001-01-01T00:00:00+01:00"),
        "run-at-after-9999": job(run_at="9999-12-31T23:59:59-01:00"),
        "run-at-year-10000": job(run_at="10000-01-01T00:00:00Z"),
        "run-at-month-13": job(run_at="2026-13-01T00:00:00Z"),
        "run-at-feb-30": job(run_at="2026-02-30T00:00:00Z"),
        "run-at-nul": job(run_at="2026-01-01\x00"), "run-at-offset-24h": job(
            run_at="2026-01-01T00:00:00+24:00"),
        # tags
        "tags-string": job(tags="a"), "tags-numbers": job(tags=[1]), "tags-empty": job(tags=[""]),
        "tags-nul": job(tags=["\x00"]), "tags-null": job(tags=[None]),
        "tags-object": job(tags={"a": 1}), "tags-nested": job(tags=[["x"]]),
        "tags-surrogate": '{"command": "x", "tags": ["\\udfff"]}',
        # retry policy
        "retry-on-zero": job(retry_on=[0]), "retry-on-256": job(retry_on=[256]),
        "retry-on-negative": job(retry_on=[-1]), "retry-on-string": job(retry_on=["64"]),
        "retry-on-fraction": job(retry_on=[64.5]), "retry-on-true": job(retry_on=[True]),
        "retry-on-number": job(retry_on=64), "retry-on-nested": job(retry_on=[[64]]),
        "no-retry-on-huge": job(no_retry_on=[2**40]),
        "retry-on-and-no-retry-on": job(retry_on=[75], no_retry_on=[64]),
        "backoff-base-zero": job(backoff_base=0), "backoff-base-negative": job(backoff_base=-2),
        "backoff-base-string": job(backoff_base="2"), "backoff-base-true": job(backoff_base=True),
        "backoff-base-huge": job(backoff_base=1e300),
        "backoff-base-nan": '{"command": "x", "backoff_base": NaN}',
        # run context
        "cwd-relative": job(cwd="tmp"), "cwd-empty": job(cwd=""), "cwd-dot": job(cwd="."),
        "cwd-nul": job(cwd="/tmp\x00x"), "cwd-number": job(cwd=1), "cwd-list": job(cwd=["/"]),
        "env-list": job(env=["A=b"]), "env-string": job(env="A=b"),
        "env-name-digit": job(env={"1A": "x"}), "env-name-dash": job(env={"A-B": "x"}),
        "env-name-equals": job(env={"A=B": "x"}), "env-name-empty": job(env={"": "x"}),
        "env-name-space": job(env={"A B": "x"}), "env-name-unicode": job(env={"\u00e9": "x"}),
        "env-value-number": job(env={"A": 1}), "env-value-null": job(env={"A": None}),
        "env-value-object": job(env={"A": {}}), "env-value-nul": job(env={"A": "a\x00b"}),
        "env-reserved": job(env={"QUEUECTL_JOB_ID": "x"}),
        "env-over-64k": job(env={f"V{i}": "x" * 1000 for i in range(70)}),
        # one bad job among good ones: nothing is enqueued
        "array-one-bad": json.dumps([{"command": "a"}, {"command": "b", "priority": "x"}]),
        "array-last-bad": json.dumps([{"command": "a"}] * 50 + [{"command": ""}]),
        # encodings
        "invalid-utf8-ff": b'{"command": "true\xff"}',
        "invalid-utf8-lone-c3": b'{"command": "\xc3("}',
        "overlong-slash": b'{"command": "\xc0\xaf"}',
        "utf8-surrogate": b'{"command": "\xed\xa0\x80"}',
        "truncated-euro": b'{"command": "\xe2\x82"}',
        "latin1": '{"command": "caf\xe9"}'.encode("latin-1"),
        "utf16-le-bom": "\ufeff" .encode("utf-16-le") + job().encode("utf-16-le"),
        "utf16-be": job().encode("utf-16-be"), "utf32": job().encode("utf-32"),
        "double-bom": b"\xef\xbb\xbf\xef\xbb\xbf" + job().encode(),
        "nul-byte-outside": job().encode() + b"\x00",
    }
    return cases


def accepted() -> dict[str, bytes | str]:
    return {
        "minimal": job(), "all-fields": job(id="all", max_retries=0, priority=-5,
                                            run_at="2030-01-01T09:30:00+02:00", timeout=1500,
                                            tags=["a", "b", "a"]),
        "utf8-bom": b"\xef\xbb\xbf" + job(id="bom").encode(),
        "unicode": job(id="caf\u00e9-\U0001f600", command="echo '\u00e9t\u00e9 \U0001f600'"),
        "slash-id": job(id="a/b"),
        "wildcard-ids": json.dumps([{"id": i, "command": "x"} for i in ("%", "_", "*")]),
        "spaces-around": "\n\t " + job(id="spaced") + " \n",
        "null-optionals": job(id="nulls", max_retries=None, run_at=None, timeout=None, tags=None),
        "integral-floats": job(id="floats", priority=5.0, max_retries=2.0),
        "int4-edges": job(id="edges", priority=-(2**31) + 1, max_retries=2**31 - 1,
                          timeout=2**31 - 1),
        "id-255": job(id="i" * 255), "run-at-naive": job(id="naive", run_at="2030-01-01T00:00:00"),
        "run-at-year-1": job(id="y1", run_at="0001-01-01T00:00:00Z"),
        "run-at-year-9999": job(id="y9999", run_at="9999-12-31T23:59:59Z"),
        "array-of-three": json.dumps([{"command": "a"}, {"command": "b"}, {"command": "c"}]),
        "json-escapes": '{"id": "esc", "command": "echo \\"\\u00e9\\""}',
        "shell-metacharacters": job(id="meta", command="echo $(id) `id` ; exit 0 | cat & wait"),
        "policy-and-context": job(id="ctx", retry_on=[75, 64, 64], backoff_base=0.5,
                                  cwd="/tmp", env={"A": "b c", "_X1": "", "Z": "\u00e9"}),
        "policy-edges": json.dumps([
            {"id": "r", "command": "x", "retry_on": [], "backoff_base": 100},
            {"id": "n", "command": "x", "no_retry_on": [1, 255], "retry_on": None},
            {"id": "e", "command": "x", "env": {}, "cwd": "/does/not/exist/here"}]),
        "env-near-64k": job(id="env64k", env={f"V{i}": "x" * 1000 for i in range(60)}),
    }


def write(directory: Path, cases: dict[str, bytes | str]) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for name, data in cases.items():
        (directory / f"{name}.json").write_bytes(data if isinstance(data, bytes) else
                                                 data.encode("utf-8", "surrogatepass"))


if __name__ == "__main__":
    write(HERE / "rejected", rejected())
    write(HERE / "accepted", accepted())
    print(f"{len(rejected())} rejected and {len(accepted())} accepted payloads in {HERE}")
