"""The README's architecture map cannot go stale: it names every package and module under
queuectl/ and every revision under alembic/versions/, one line each, names nothing that does
not exist, and states the same layers as the import-linter contract."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRY = re.compile(r"(?P<indent> *)(?P<name>\S+)(?: {2,}(?P<text>\S.*))?")


def section() -> str:
    """The README's `## Architecture` section, up to the next `## ` heading."""
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Architecture\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def mapped() -> list[str]:
    """The paths the map (the section's first code block) names, relative to the root; a
    folder ends in `/`. Each line is one entry, indented two spaces per folder level."""
    block = section().split("```")[1]
    paths: list[str] = []
    folders: list[str] = []
    for line in block.strip("\n").splitlines():
        entry = ENTRY.fullmatch(line)
        assert entry, f"not a map entry (name, two spaces, what it is): {line!r}"
        depth, odd = divmod(len(entry["indent"]), 2)
        assert not odd and depth <= len(folders), f"indented off the tree: {line!r}"
        del folders[depth:]
        name = entry["name"]
        assert depth == 0 or entry["text"], f"{name}: says nothing about itself"
        paths.append("".join(folders) + name)
        if name.endswith("/"):
            folders.append(name)
    return paths


def on_disk() -> set[str]:
    """Every package (as a folder), module and migration the map must name."""
    found = {"queuectl/", "alembic/", "alembic/versions/"}
    for path in (ROOT / "queuectl").rglob("*.py"):
        rel = path.relative_to(ROOT)
        found.add(rel.as_posix())
        found.update(f"{parent.as_posix()}/" for parent in rel.parents if parent.parts)
    found.update(p.relative_to(ROOT).as_posix() for p in (ROOT / "alembic/versions").glob("*.py"))
    return found


def test_the_map_names_every_module_and_revision_once():
    paths = mapped()
    assert len(paths) == len(set(paths)), sorted(p for p in paths if paths.count(p) > 1)
    missing = on_disk() - set(paths)
    assert not missing, f"README's architecture map misses: {sorted(missing)}"


def test_everything_the_map_names_exists():
    gone = [p for p in mapped()
            if not (ROOT / p).exists() or p.endswith("/") != (ROOT / p).is_dir()]
    assert not gone, f"README's architecture map names what does not exist: {gone}"


def test_the_section_states_the_layers_of_the_import_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [layers] = [c["layers"] for c in config["tool"]["importlinter"]["contracts"]
                if c["type"] == "layers"]
    rule = " > ".join(layer.removeprefix("queuectl.") for layer in layers)
    assert f"`{rule}`" in section()
