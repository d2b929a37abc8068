"""Robustness suite: fixtures live in `pgcluster` (importable by the tests); the figures the
chaos tests measure are printed in the terminal summary."""

from __future__ import annotations

from pgcluster import FIGURES, make_workers, private_pg, scratch  # noqa: F401 (fixtures)


def pytest_terminal_summary(terminalreporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("robustness figures")
    for name, figures in FIGURES:
        terminalreporter.write_line(f"{name}:")
        for k, v in figures.items():
            terminalreporter.write_line(f"    {k}: {v}")
