"""Serving ASGI apps on real loopback sockets for the contract runner's tests.

:class:`LiveServer` runs uvicorn in a thread on a free port; :class:`MethodRecorder` wraps an app
and remembers every request line it receives (method, path), whatever the route; the fake is
built from the bundled fixtures with :func:`fresh_fake` (a new store each time: runs that PATCH
and DELETE consume seed data).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from mockserver.app import ServerOptions, create_app
from mockserver.cli import build_store


def fresh_fake():
    """(app, store): the fake on the bundled fixtures, with a store of its own."""
    store = build_store([])
    return create_app(store, ServerOptions()), store


class LiveServer:
    """An ASGI app on ``http://HOST:PORT`` (a free port) until ``stop()``."""

    def __init__(self, app: Any, host: str = "127.0.0.1"):
        self.app = app
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"
        config = uvicorn.Config(app, log_level="critical", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class MethodRecorder:
    """ASGI middleware: records ``(method, path)`` of every HTTP request, then passes it on."""

    def __init__(self, app: Any):
        self.app = app
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            with self._lock:
                self.seen.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)

    def methods(self) -> set[str]:
        with self._lock:
            return {method for method, _ in self.seen}
