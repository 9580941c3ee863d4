"""A real ``redis-server`` for the tests: started on a free loopback port, no persistence unless
asked, stopped at the end. Where ``redis-server`` is missing the tests that need it are skipped with
the reason, except in CI (``CI=true``), where a missing Redis fails them: CI never skips them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_binary() -> str:
    """The path of redis-server; skips (locally) or fails (CI) the test when there is none."""
    found = shutil.which("redis-server")
    if found is None:
        reason = "redis-server is not installed (Debian: apt-get install redis-server); the Redis backend tests need it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " - CI must run them")
        pytest.skip(reason)
    return found


class RedisServer:
    """One redis-server process on 127.0.0.1. ``appendonly``: every acknowledged write is fsynced
    to its append-only file (``appendfsync always``), so a kill and restart on the same port keeps it."""

    def __init__(self, *, appendonly: bool = False, tls: bool = False):
        self.binary = redis_binary()
        self.port = _free_port()
        self.appendonly = appendonly
        self.dir = Path(tempfile.mkdtemp(prefix="mockserver-redis-"))
        self.tls = tls
        if tls:  # a CA of the test's own (trustme) and a certificate for 127.0.0.1
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            cert.private_key_pem.write_to_path(str(self.dir / "key.pem"))
            cert.cert_chain_pems[0].write_to_path(str(self.dir / "cert.pem"))
            ca.cert_pem.write_to_path(str(self.dir / "ca.pem"))
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.dir / 'ca.pem'}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else ["--appendonly", "no"]
        ports = ["--port", str(self.port)]
        if self.tls:
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.dir / "cert.pem"),
                     "--tls-key-file", str(self.dir / "key.pem"), "--tls-ca-cert-file", str(self.dir / "ca.pem"),
                     "--tls-auth-clients", "no"]
        self.process = subprocess.Popen(
            [self.binary, *ports, "--bind", "127.0.0.1", "--save", "", *persistence,
             "--dir", str(self.dir), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self.tls:
                    if self.client().ping():
                        return
                else:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                        sock.sendall(b"PING\r\n")
                        if sock.recv(64).startswith(b"+PONG"):
                            return
            except Exception:  # noqa: BLE001 - not up yet
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self):
        from mockserver.store.redis_backend import connect

        return connect(self.url)


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def namespace() -> str:
    """A namespace of its own for each test, so tests share one Redis without seeing each other."""
    return "t" + uuid.uuid4().hex[:12]
