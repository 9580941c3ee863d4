"""The one way to serve a fake: uvicorn with the project's HTTP protocol and settings, on a bound socket.

:func:`server_config` is the one configuration (httptools answering what it cannot parse as a problem,
no ``Server`` header, a ``Date`` header, the start-up events); :class:`Server` is uvicorn's server that
says when it has started. The CLI runs one in the main thread until Ctrl-C or SIGTERM
(:func:`run`); the pytest plugin, drift's oracle and the tests run one on a thread
(:class:`Background`). So the fake a runner compares with, or a test talks to, is served exactly as
the one users run.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from mockserver.server.http_protocol import ProblemHttpToolsProtocol

LOOPBACK = "127.0.0.1"


def bind(host: str = LOOPBACK, port: int = 0, *, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: a free port); ``OSError`` when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{sock.getsockname()[1]}"


def server_config(app: Any, *, access_log: bool = False, log_level: str = "warning", **extra: Any) -> uvicorn.Config:
    """The one uvicorn configuration of a served fake; ``extra`` adds settings (TLS files, for instance).
    With ``access_log``, one line per request is logged whatever ``log_level`` says."""
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=access_log,
        # httptools, answering what it cannot parse (such as a target over 64 KiB) as a problem.
        http=ProblemHttpToolsProtocol,
        server_header=False,
        date_header=True,
        **extra,
    )
    if access_log:  # after uvicorn's own logging set-up, which the configuration just ran
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    return config


class Server(uvicorn.Server):
    """Calls ``on_started`` once the server is up (and, in the main thread, its signal handlers are
    installed), so a client told of the start can connect, and a SIGTERM after it always stops cleanly."""

    def __init__(self, config: uvicorn.Config, *, on_started: Callable[[], None] | None = None):
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        if not self.should_exit and self._on_started is not None:
            self._on_started()


def run(app: Any, sock: socket.socket, *, access_log: bool = False,
        on_started: Callable[[], None] | None = None) -> None:
    """Serve ``app`` on ``sock`` in this thread until Ctrl-C or SIGTERM (the CLI)."""
    Server(server_config(app, access_log=access_log), on_started=on_started).run(sockets=[sock])


class Background:
    """``app`` (a built fake's, or a test's variant of one) served on a thread on a free port of ``host``
    until :meth:`stop`; ``url`` and ``port`` say where. ``config`` replaces :func:`server_config` (for a
    server that is not the fake, such as the proxy); ``extra`` is added to it."""

    def __init__(self, app: Any, host: str = LOOPBACK, *, config: uvicorn.Config | None = None,
                 log_level: str = "warning", **extra: Any):
        self.app = app
        self.host = host
        self._sock = bind(host, 0, backlog=128)
        self.port = self._sock.getsockname()[1]
        self.url = url_of(self._sock, host)
        self._server = Server(config or server_config(app, log_level=log_level, **extra))
        self.failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"fake:{self.port}", daemon=True)

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as err:  # reported by start(), not lost in a thread
            self.failed = err

    def start(self, timeout: float = 10.0) -> Background:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start: {self.failed!r}")
            self._thread.join(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> Background:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

