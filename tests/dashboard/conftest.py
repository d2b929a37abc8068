"""Fixtures for the dashboard tests: an in-process client and a real `queuectl dashboard`."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from queuectl.dashboard import app as dashboard_app
from queuectl.dashboard import security
from tests.conftest import QUEUECTL, ROOT, wait_for


class AppServer:
    """A dashboard app served by uvicorn in a thread of the test process, on a free port."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> AppServer:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=20, message="uvicorn to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)

    def client(self, host: str = "127.0.0.1", **kwargs: object) -> httpx.Client:
        """An HTTP client for the server; `host` is what the Host header says."""
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30,
                            headers={"Host": f"{host}:{self.port}"}, **kwargs)


def serve_app(engine: sa.Engine, *, token: str | None = None,
              local_only: bool = True) -> AppServer:
    """Serve `create_app(engine)` with the given access policy (use as a context manager)."""
    guard = security.Guard(token=token, local_only=local_only)
    return AppServer(dashboard_app.create_app(engine, guard=guard))


@pytest.fixture
def client(clean: sa.Engine) -> Iterator[httpx.Client]:
    """An HTTP client on the dashboard app (no token), on the module's emptied database."""
    with serve_app(clean) as server, server.client() as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running `queuectl dashboard` subprocess."""

    url: str
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def serve(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start the real `queuectl dashboard ARGS...` on a free port; stopped at teardown."""
    started: list[Server] = []

    def start(*args: str, host: str = "127.0.0.1", token: str | None = None,
              extra_env: dict[str, str] | None = None,
              global_args: tuple[str, ...] = ()) -> Server:
        port = free_port()
        log = tmp_path / f"dashboard-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*QUEUECTL, *global_args, "dashboard", "--host", host, "--port", str(port),
                 *args],
                env={**env, **(extra_env or {})}, stdout=out, stderr=subprocess.STDOUT,
                cwd=ROOT)
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '127.0.0.1') else host}:{port}"
        server = Server(url, proc, log)
        started.append(server)
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        def up() -> bool:
            assert proc.poll() is None, f"dashboard exited: {server.output()}"
            try:
                return httpx.get(url + "/static/app.js", headers=headers, timeout=1).is_success
            except httpx.TransportError:
                return False

        wait_for(up, timeout=30, message="the dashboard to answer")
        return server

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.terminate()
            try:
                s.proc.wait(10)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                s.proc.wait()

