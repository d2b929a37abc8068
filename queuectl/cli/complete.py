"""Shell completion for values: states, config keys and recent job ids (never file names).

Completion must answer quickly and never print an error into the user's command line, so a
database that does not answer simply completes nothing.
"""

from __future__ import annotations

import typer

from queuectl import errors, settings
from queuectl.core import configkeys
from queuectl.core.records import JobState

__all__ = ["config_keys", "job_ids", "states"]


def states(incomplete: str) -> list[str]:
    """Job state names starting with `incomplete`."""
    return [s.value for s in JobState if s.value.startswith(incomplete.lower())]


def config_keys(incomplete: str) -> list[str]:
    """Config key names (and their aliases) starting with `incomplete`."""
    names = sorted(configkeys.KEYS) + sorted(configkeys.ALIASES)
    return [n for n in names if n.startswith(incomplete.lower().replace("-", "_"))]


def job_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    """The newest job ids starting with `incomplete` (none if the database does not answer)."""
    from queuectl import db
    from queuectl.store import quick

    params = ctx.find_root().params
    try:
        target = settings.resolve_database(params.get("database_url"), params.get("context"))
        with db.connect(target) as conn:
            return quick.recent_job_ids(conn, prefix=incomplete)
    except errors.QueuectlError:
        return []
