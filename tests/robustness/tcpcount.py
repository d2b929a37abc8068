"""A counting TCP proxy on 127.0.0.1: forwards to a PostgreSQL server and records when each
client connection was opened, so a test can count connection attempts (refused ones too)."""

from __future__ import annotations

import selectors
import socket
import threading
import time


class CountingProxy:
    """Listens on a free 127.0.0.1 port and forwards every connection to `target`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.opened: list[float] = []  # monotonic times of accepted connections
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def count_since(self, since: float) -> int:
        """Connections opened at or after monotonic time `since`."""
        return sum(t >= since for t in list(self.opened))

    def _accept(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.opened.append(time.monotonic())
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _pump(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.5):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            client.close()
            upstream.close()

    def close(self) -> None:
        """Stop accepting and end the pumps."""
        self._stop.set()
        self._server.close()
        self._thread.join(2)
