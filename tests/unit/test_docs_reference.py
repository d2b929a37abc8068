"""The docs' reference pages are generated from the code (scripts/reference.py): each page on
disk must be what the code makes now, and each page must name every command, field, key,
error, route and series it documents."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import typer

from queuectl import cli, errors
from queuectl.core import configkeys, jobspec

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("reference", ROOT / "scripts" / "reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference", module)
    spec.loader.exec_module(module)
    return module


REFERENCE = _generator()
PAGES = REFERENCE.pages()


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_reference_page_on_disk_is_what_the_code_makes(name):
    path = ROOT / "docs" / "reference" / name
    assert path.is_file() and path.read_text() == PAGES[name], (
        f"docs/reference/{name} is out of date: run python scripts/reference.py")


def test_the_pages_cover_everything_they_document():
    def commands(command, path):
        yield " ".join(path)
        for name, sub in getattr(command, "commands", {}).items():
            if not sub.hidden:
                yield from commands(sub, [*path, name])

    for title in commands(typer.main.get_command(cli.app), ["queuectl"]):
        assert f"`{title}`" in PAGES["cli.md"], title
    for name in jobspec.FIELDS:
        assert f"| `{name}` |" in PAGES["job-fields.md"], name
    for key in configkeys.KEYS:
        assert f"| `{key}` |" in PAGES["config.md"], key
    names = {c.__name__ for c in vars(errors).values()
             if isinstance(c, type) and issubclass(c, errors.QueuectlError)}
    assert names == set(re.findall(r"`(\w+)` \| \d \|", PAGES["exit-codes.md"]))
    assert "| `POST` | `/api/fleet/pause` |" in PAGES["http-api.md"]
    assert "| `queuectl_jobs` | gauge |" in PAGES["prometheus.md"]


def test_every_job_field_is_documented():
    assert set(jobspec.FIELD_DOCS) == set(jobspec.FIELDS)


def test_every_config_key_says_what_it_accepts():
    assert all(k.limits for k in configkeys.KEYS.values())


def test_the_check_names_a_stale_page(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(REFERENCE, "OUT", tmp_path)
    assert REFERENCE.main([]) == 0 and REFERENCE.main(["--check"]) == 0
    (tmp_path / "config.md").write_text("old\n")
    assert REFERENCE.main(["--check"]) == 1
    assert "docs/reference/config.md" in capsys.readouterr().err
