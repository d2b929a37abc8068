"""queuectl: a background job queue for shell commands, stored in PostgreSQL."""

__all__ = ["__version__"]

__version__ = "0.1.0"
