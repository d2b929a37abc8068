"""What the in-process runner (conftest.py) raises when a test does what these tests must not:
BaseExceptions, so that no `except Exception` in a command hides them. In a module of their
own so that the tests catch the very classes conftest.py raises (pytest imports conftest.py
under a name of its own)."""


class TouchedTheDatabase(BaseException):
    """A command in a test that asked for no database tried to resolve the default one."""


class StartedAProcess(BaseException):
    """A command in an in-process test tried to start a worker or a `queuectl` process."""
