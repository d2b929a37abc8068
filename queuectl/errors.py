"""The exceptions queuectl raises, each carrying the exit code the CLI uses.

    QueuectlError (exit 1)           base: an operational failure
    ├── UsageError (exit 2)          the user's input is wrong; nothing was changed
    │   ├── InvalidJob               an enqueue payload failed validation
    │   │   └── DependencyCycle      ... because its `after` lists make a cycle
    │   ├── InvalidConfig            a config key or value is not acceptable
    │   └── AmbiguousId              an id prefix matches several jobs
    ├── DatabaseUnavailable (exit 2) the database cannot be reached or the URL is bad
    ├── DatabaseError                the server refused a statement (its message, SQLSTATE)
    │   └── InvalidInput (exit 2)    ... because of a value it cannot hold (SQLSTATE class 22)
    ├── JobNotFound                  no job has that id or prefix
    ├── DuplicateJob                 a job with that id already exists
    ├── CronNotFound                 no cron schedule has that name
    ├── QueueNotFound                no queue has that name (no jobs, no settings)
    ├── QueueNotEmpty                the queue still has unfinished jobs
    ├── DuplicateCron                a cron schedule with that name already exists
    ├── InvalidState                 the job is not in a state that allows the action
    └── SchemaError                  migrations failed or the schema is newer than this code

Driver exceptions are translated into these inside `queuectl.store` and `queuectl.db`;
the CLI has one boundary that prints `error: <message>` and exits with `exit_code`.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousId",
    "CronNotFound",
    "DatabaseError",
    "DatabaseUnavailable",
    "DependencyCycle",
    "DuplicateCron",
    "DuplicateJob",
    "InvalidConfig",
    "InvalidInput",
    "InvalidJob",
    "InvalidState",
    "JobNotFound",
    "QueueNotEmpty",
    "QueueNotFound",
    "QueuectlError",
    "SchemaError",
    "UsageError",
]


class QueuectlError(Exception):
    """Base of every error queuectl reports to a user; `exit_code` is what the CLI exits with."""

    exit_code = 1


class UsageError(QueuectlError):
    """The user's input is wrong; nothing was changed."""

    exit_code = 2


class InvalidJob(UsageError):
    """An enqueue payload failed validation (the message names the field)."""


class DependencyCycle(InvalidJob):
    """The `after` lists of a payload make a cycle; `ids` holds every id of the payload (a
    caller that can see the database reports one already taken first: that is the mistake)."""

    def __init__(self, message: str, *, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids


class InvalidConfig(UsageError):
    """A config key is unknown or its value is out of range."""


class AmbiguousId(UsageError):
    """An id prefix matches more than one job (the message lists candidates)."""


class DatabaseUnavailable(QueuectlError):
    """The database cannot be reached, or its URL is malformed."""

    exit_code = 2


class DatabaseError(QueuectlError):
    """The database answered a statement with an error other than a lost connection: the
    server is there and refused this statement (`sqlstate`, when it sent one). `transient`
    refusals (a deadlock, a lock timeout) may pass if the statement is tried again; the
    others would fail the same way again."""

    def __init__(self, message: str, *, sqlstate: str | None = None,
                 transient: bool = False) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.transient = transient


class InvalidInput(DatabaseError):
    """The database refused a value (a NUL in text, a number or time out of range)."""

    exit_code = 2


class JobNotFound(QueuectlError):
    """No job has the given id or id prefix."""


class DuplicateJob(QueuectlError):
    """A job with the given id already exists; the existing job is untouched."""


class CronNotFound(QueuectlError):
    """No cron schedule has the given name."""


class QueueNotFound(QueuectlError):
    """No queue has the given name: no job names it and it has no settings."""


class QueueNotEmpty(QueuectlError):
    """The queue still has unfinished jobs (pending, waiting, held, failed or running)."""


class DuplicateCron(QueuectlError):
    """A cron schedule with the given name exists already; it is untouched."""


class InvalidState(QueuectlError):
    """The job is not in a state that allows the requested action."""


class SchemaError(QueuectlError):
    """Migrations failed, or the database schema is newer than this code."""
