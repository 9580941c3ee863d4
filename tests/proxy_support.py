"""The proxy in the test process, and deployments to put behind it (the harness itself is tests/support.py).

:func:`proxied` serves a backend ASGI app (the fake, a variant of it, an echo server) on a real
loopback port and the proxy in front of it, served as the command serves it. :func:`raw` speaks
HTTP/1.1 over a plain socket, so the test sees every byte the proxy sends (names, order, repeats,
chunk framing aside).
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from mockserver.proxy.app import Proxy, build_proxy
from tests.support import LiveServer, Served

ADMIN_TOKEN = "proxy-admin-token"


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
