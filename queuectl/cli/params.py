"""Bounds shared by command-line options, so no number a user types can overflow a
PostgreSQL column or a timer later (each option still gets one clear usage error)."""

from __future__ import annotations

import math

import typer

__all__ = ["MAX_LIMIT", "MAX_SECONDS", "finite"]

MAX_LIMIT = 1_000_000  # rows one `--limit` may ask for
MAX_SECONDS = 30 * 86400.0  # the longest --grace or --timeout: 30 days


def finite(value: float | None) -> float | None:
    """Option callback: refuse `nan` (which passes click's range checks) and infinities."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter("must be a finite number of seconds")
    return value
