"""Serving ``mockserver proxy`` in the test process, and deployments to put behind it.

:func:`proxied` serves a backend ASGI app (the fake, a variant of it, an echo server) on a real
loopback port and the proxy in front of it, served as the command serves it. :func:`raw` speaks
HTTP/1.1 over a plain socket, so the test sees every byte the proxy sends (names, order, repeats,
chunk framing aside).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from mockserver.proxy.app import Proxy, build_proxy
from mockserver.proxy.command import server_config
from tests.contract_servers import LiveServer

ADMIN_TOKEN = "proxy-admin-token"


class Served(LiveServer):
    """An ASGI app served as the proxy command serves it (no Server or Date header of its own), on a free
    loopback port, started."""

    def __init__(self, app: Any):
        super().__init__(app)
        self._server = uvicorn.Server(server_config(app, log_level="critical"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self.start()


@dataclass
class Setup:
    backend: LiveServer
    proxy: Proxy
    front: Served
    lines: list[str]

    @property
    def url(self) -> str:
        return self.front.url

    def violations(self) -> list[dict[str, Any]]:
        answer = httpx.get(self.url + "/__admin/violations", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert answer.status_code == 200, answer.text
        return answer.json()["violations"]

    def checks(self) -> set[tuple[str | None, str]]:
        return {(v["operationId"], v["check"]) for v in self.violations()}


@contextlib.contextmanager
def proxied(backend_app: Any, **options: Any) -> Iterator[Setup]:
    from mockserver.proxy.violations import ViolationLog

    lines: list[str] = []
    with LiveServer(backend_app) as backend:
        proxy = build_proxy(backend.url, admin_token=ADMIN_TOKEN, log=ViolationLog(write=lines.append), **options)
        front = Served(proxy.app)
        try:
            yield Setup(backend, proxy, front, lines)
        finally:
            front.stop()


def raw(port: int, method: str, target: str, headers: list[tuple[str, str]] = (), body: bytes = b"",
        timeout: float = 30) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request on its own connection; (status, headers as sent, de-chunked body)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = [(name.strip().lower(), value.strip()) for name, _, value in (h.partition(":") for h in header_lines)]
    if ("transfer-encoding", "chunked") in parsed:
        rest = _dechunk(rest)
    return int(status_line.split(" ", 2)[1]), parsed, rest


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out


FRAMING = {"transfer-encoding", "connection", "date"}


def comparable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers an answer carries end to end (framing and the per-second Date aside)."""
    return [(name, value) for name, value in headers if name not in FRAMING]


def as_json(body: bytes) -> Any:
    return json.loads(body) if body else None


class ProxyProcess:
    """``mockserver proxy URL --port 0 ...`` as users start it; its output is collected in the background."""

    def __init__(self, target: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60):
        import subprocess
        import sys

        self.process = subprocess.Popen([sys.executable, "-m", "mockserver", "proxy", target, "--port", "0", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self.errors: list[str] = []
        started = threading.Event()

        def drain(stream, into, is_stdout):
            for line in stream:
                into.append(line)
                if is_stdout and line.startswith("Press Ctrl-C"):
                    started.set()
            started.set()

        self._readers = [threading.Thread(target=drain, args=(self.process.stdout, self.lines, True), daemon=True),
                         threading.Thread(target=drain, args=(self.process.stderr, self.errors, False), daemon=True)]
        for reader in self._readers:
            reader.start()
        started.wait(timeout)
        first = next((line for line in self.lines if line.startswith("Users API proxy serving on ")), None)
        self.url = first.rsplit(" ", 1)[1].strip() if first else None
        self.port = int(self.url.rsplit(":", 1)[1]) if self.url else None

    @property
    def output(self) -> str:
        return "".join(self.lines) + "".join(self.errors)

    def admin_token(self) -> str:
        line = next(line for line in self.lines if "admin token:" in line)
        return line.split("admin token:", 1)[1].split()[0]

    def stop(self, sig=None, timeout: float = 30) -> int:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(sig or signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
