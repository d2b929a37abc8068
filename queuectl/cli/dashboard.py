"""`dashboard`: serve the web dashboard, its JSON API and Prometheus metrics."""

from __future__ import annotations

import errno
import os
import socket

import typer

from queuectl import db, errors, store

__all__ = ["register"]

# A dashboard request waits at most this long for the database, then shows an error banner.
_STATEMENT_TIMEOUT = 10.0
_TOKEN_ENV = "QUEUECTL_DASHBOARD_TOKEN"


def dashboard(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(3000, "--port", min=1, max=65535, help="Port to listen on."),
    token: str | None = typer.Option(
        None, "--token", envvar=_TOKEN_ENV, show_envvar=True,
        help="Require this token on every request (needed to listen on a non-local address)."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Allow a non-local address without a token (anyone who can "
        "reach it can see jobs and retry dead ones)."),
) -> None:
    """Serve the web dashboard, its JSON API and Prometheus /metrics.

    Example: queuectl dashboard --port 3000
    """
    from queuectl.dashboard import security  # Starlette: loaded for this command only

    _refuse_empty_token(token)
    local = security.is_loopback(host)
    if token and no_auth:
        raise errors.UsageError("--token and --no-auth contradict each other; give one")
    if token and security.token_problem(token):
        raise errors.UsageError(f"invalid --token: {security.token_problem(token)}")
    if not local and not token and not no_auth:
        raise errors.UsageError(
            f"refusing to serve the dashboard on non-local address {host} without a token: "
            "pass --token or set QUEUECTL_DASHBOARD_TOKEN (or --no-auth to allow anyone)")
    try:
        ctx.obj.engine()  # brings the schema to head, as every command does
    except errors.DatabaseUnavailable as exc:
        typer.echo(f"warning: {exc}; the dashboard will show this until it is reachable",
                   err=True)
    # Imported here: FastAPI and uvicorn take a while to load, and no other command needs them.
    import uvicorn

    from queuectl.dashboard import app as dashboard_app

    engine = db.create_engine(ctx.obj.target(), pooled=True, pool_size=4)
    store.limit_statement_time(engine, seconds=_STATEMENT_TIMEOUT)
    # On loopback the Host check stays with a token too: DNS rebinding is refused either way.
    guard = security.Guard(token=token, local_only=local)
    app = dashboard_app.create_app(engine, guard=guard)
    sock = _listen(host, port)  # before the banner: a port in use is one error line, exit 1
    typer.echo(_banner(host, port, token=token, local=local), err=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def _refuse_empty_token(token: str | None) -> None:
    """An empty token is a mistake (`--token "$UNSET"`), never a way to say "no token"."""
    if token == "":
        raise errors.UsageError("--token is empty: give a token, or leave --token out")
    # Click reads an empty variable as unset; it is one, set to nothing.
    if token is None and os.environ.get(_TOKEN_ENV) == "":
        raise errors.UsageError(f"{_TOKEN_ENV} is set but empty: set a token in it, or unset "
                                "it")


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (uvicorn listens on it), or one clear error."""
    sock = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # now: two dashboards starting together cannot both bind
    except OSError as exc:
        if sock is not None:
            sock.close()
        hint = "; is another dashboard running? pick another --port" if (
            exc.errno == errno.EADDRINUSE) else ""
        raise errors.QueuectlError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    return sock


def _banner(host: str, port: int, *, token: str | None, local: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if token:
        auth = (f"token required: open {url}?token=<token> once, or send "
                "'Authorization: Bearer <token>'")
    elif local:
        auth = "local connections only, no token"
    else:
        auth = "WARNING: --no-auth, anyone who can reach this address can use it"
    return f"queuectl dashboard on {url} ({auth}); metrics at {url}metrics; Ctrl-C stops"


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""
    app.command()(dashboard)
