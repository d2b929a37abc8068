"""Two adjustments to typer 0.29, which has no switch for either (typer is pinned, and
`tests/cli/test_conventions.py` checks both results):

- `plain_arguments()`: help text that reads like a Unix tool's: `queuectl show [OPTIONS] ID`,
  not `{ID}`; no `<str>` type label after an argument's name; `--port PORT`, not
  `--port <int range>`.
- `plain_strings()`: plain `str` and `bool` parameters are coerced here. Typer would build a
  pydantic TypeAdapter for each, and importing pydantic costs `enqueue` and `status` more than
  the rest of their start-up; other types (numbers with ranges...) keep typer's coercion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer
import typer.core
from typer import _coercion

__all__ = ["plain_arguments", "plain_strings"]


def _usage_name(self: typer.core.TyperArgument) -> str:
    name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
    return name + ("..." if self.nargs != 1 else "")


def _no_type(self: typer.core.TyperArgument, ctx: Any) -> str | None:
    return None


def _option_metavar(self: typer.core.TyperOption, ctx: Any) -> str | None:
    if self.metavar is not None:
        return self.metavar
    return (self.name or "value").upper() + ("..." if self.nargs != 1 else "")


def plain_arguments() -> None:
    """Render arguments by name only, and option values by their name in capitals."""
    typer.core.TyperOption.display_type_rich = _option_metavar  # type: ignore[method-assign]
    typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
    typer.core.TyperArgument.display_type_rich = _no_type  # type: ignore[method-assign,assignment]


@dataclass(frozen=True)
class _PlainStr(_coercion.RuntimeParam):
    """Coercion of a `str` parameter: command-line values already are strings."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class _PlainBool(_coercion.RuntimeParam):
    """Coercion of a `bool` flag (typer passes None for an unset one)."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "t", "yes", "y", "on"):
            return True
        if text in ("0", "false", "f", "no", "n", "off", ""):
            return False
        raise typer.BadParameter(f"{value!r} is not a valid boolean", ctx=ctx, param=param)


_PLAIN = {str: _PlainStr, bool: _PlainBool}
_typer_build = _coercion.build_runtime_param


def _build_runtime_param(descriptor: Any) -> _coercion.RuntimeParam:
    info = descriptor.parameter_info
    plain = _PLAIN.get(descriptor.annotation)
    if (plain is None or descriptor.file_annotation is not None
            or getattr(info, "parser", None) is not None
            or getattr(info, "click_type", None) is not None):
        return _typer_build(descriptor)
    return plain(parameter_info=info, annotation=descriptor.annotation)


def plain_strings() -> None:
    """Coerce plain `str` and `bool` parameters without pydantic."""
    typer.core.build_runtime_param = _build_runtime_param  # type: ignore[attr-defined]
