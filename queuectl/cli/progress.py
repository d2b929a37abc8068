"""Progress bars on stderr for long commands, drawn only when stderr is a terminal (scripts
and logs get nothing). Uses rich, which typer already depends on; it is imported only when a
bar is drawn."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

__all__ = ["bar"]


@contextlib.contextmanager
def bar(label: str, total: int | None = None, *,
        more_than: int = 0) -> Iterator[Callable[[int], None]]:
    """A bar for `total` units (a pulsing one for None), drawn if there are `more_than`
    units; yields `advance(n)`. The bar is removed when the block ends, so only the
    command's own messages remain."""
    if not sys.stderr.isatty() or (total is not None and total <= more_than):
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn()]
    if total is not None:
        columns.insert(2, MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)
