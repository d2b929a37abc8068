"""Help text that reads like a Unix tool's: `queuectl show [OPTIONS] ID`, not `{ID}`; no
`<str>` type label after an argument's name; `--port PORT`, not `--port <int range>`.

Typer 0.29 has no switch for these, so `plain_arguments()` replaces the three methods of its
parameter classes that render them (typer is pinned; `tests/cli/test_conventions.py` checks
the result).
"""

from __future__ import annotations

import typer
import typer.core

__all__ = ["plain_arguments"]


def _usage_name(self: typer.core.TyperArgument) -> str:
    name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
    return name + ("..." if self.nargs != 1 else "")


def _no_type(self: typer.core.TyperArgument, ctx: typer.Context) -> str | None:
    return None


def _option_metavar(self: typer.core.TyperOption, ctx: typer.Context) -> str | None:
    if self.metavar is not None:
        return self.metavar
    return (self.name or "value").upper() + ("..." if self.nargs != 1 else "")


def plain_arguments() -> None:
    """Render arguments by name only, and option values by their name in capitals."""
    typer.core.TyperOption.display_type_rich = _option_metavar  # type: ignore[method-assign]
    typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
    typer.core.TyperArgument.display_type_rich = _no_type  # type: ignore[method-assign]
