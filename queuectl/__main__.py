"""`python -m queuectl` runs the CLI."""

from queuectl import cli

cli.main()
