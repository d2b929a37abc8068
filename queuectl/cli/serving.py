"""What `dashboard` and `metrics serve` share: the access rules checked before serving (a
non-local address needs a token or `--no-auth`; an empty token is a mistake), the listening
socket (a port in use is one error line, exit 1) and running uvicorn on it."""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from queuectl import errors

__all__ = ["check_access", "listen", "serve"]


def check_access(host: str, token: str | None, no_auth: bool, *, what: str,
                 token_env: str) -> bool:
    """Refuse (a usage error) a contradictory, empty or unusable token, and a non-local
    `host` with neither a token nor `no_auth`; True when `host` is a loopback address."""
    from queuectl.dashboard import security  # Starlette: loaded for these commands only

    _refuse_empty_token(token, token_env)
    if token and no_auth:
        raise errors.UsageError("--token and --no-auth contradict each other; give one")
    if token and security.token_problem(token):
        raise errors.UsageError(f"invalid --token: {security.token_problem(token)}")
    local = security.is_loopback(host)
    if not local and not token and not no_auth:
        raise errors.UsageError(
            f"refusing to serve {what} on non-local address {host} without a token: "
            f"pass --token or set {token_env} (or --no-auth to allow anyone)")
    return local


def _refuse_empty_token(token: str | None, token_env: str) -> None:
    """An empty token is a mistake (`--token "$UNSET"`), never a way to say "no token"."""
    if token == "":
        raise errors.UsageError("--token is empty: give a token, or leave --token out")
    # Click reads an empty variable as unset; it is one, set to nothing.
    if token is None and os.environ.get(token_env) == "":
        raise errors.UsageError(f"{token_env} is set but empty: set a token in it, or unset "
                                "it")


def listen(host: str, port: int, *, what: str) -> socket.socket:
    """A socket bound to host:port (uvicorn listens on it), or one clear error."""
    sock = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # now: two servers starting together cannot both bind
    except OSError as exc:
        if sock is not None:
            sock.close()
        hint = f"; is another {what} running? pick another --port" if (
            exc.errno == errno.EADDRINUSE) else ""
        raise errors.QueuectlError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    return sock


def serve(app: Any, sock: socket.socket, host: str, port: int) -> None:
    """Run `app` with uvicorn on the bound `sock` until Ctrl-C."""
    import uvicorn  # takes a while to load, and only the serving commands need it

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
