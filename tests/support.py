"""The test harness: everything tests share that is not a pytest fixture (those are in conftest.py).

Processes, started as users start them:

- :class:`MockserverProcess`: ``mockserver ARGS`` as a subprocess; the URL is read from its banner and
  its output is drained by threads (so a chatty access log can never fill the pipe and stall it);
  :class:`Server` is the fake (``mockserver --port 0``), :class:`ProxyProcess` the proxy command;
- :func:`run_cli`: the command run to completion.

In-process servers, on real loopback sockets:

- :class:`LiveServer`: an ASGI app (the fake from :func:`fresh_fake` or :func:`build_fake`, a variant
  of it) served in a thread the one way the fake is served; :class:`Served` serves one as the proxy command does;
- :class:`MethodRecorder`: ASGI middleware remembering every request line it receives;
- :class:`Relay`: a loopback HTTP hop in front of a server, which is not the fake.

And: :func:`raw_request` / :func:`parse_response` (HTTP/1.1 over a plain socket, for the requests a
client library would refuse to send); :func:`assert_problem` (the checks every problem answer must
pass); :func:`contract_config` (the project's Schemathesis configuration for an in-process run);
:func:`non_loopback_address`; :data:`ALL_PHASES` (every phase of a contract run).
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import uvicorn

from mockserver.app.serve import Background

MOCKSERVER = [sys.executable, "-m", "mockserver"]
START_TIMEOUT = 60.0
PROBLEM = "application/problem+json"
BANNER_START = "Users API mock serving on http://127.0.0.1:"
BANNER_END = "Press Ctrl-C"
ALL_PHASES = "examples,coverage,fuzzing,stateful"
PROXY_BANNER_START = "Users API proxy serving on "


def assert_problem(response, status: int, *fragments: str):
    """``response`` (a test client's) is a one-line problem with ``status``, its detail naming ``fragments``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    assert "\n" not in body["detail"] and len(body["detail"]) < 300
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    return body


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """``mockserver ARGS`` as a subprocess, run to completion (output captured as text)."""
    return subprocess.run([*MOCKSERVER, *args], capture_output=True, text=True, timeout=timeout)


class MockserverProcess:
    """``mockserver ARGS`` as a subprocess, as users start it; the URL is read from its banner.

    The banner (the lines up to "Press Ctrl-C") is :attr:`banner`; everything the process writes after it
    is collected by threads in :attr:`lines` (stdout) and :attr:`errors` (stderr), so a chatty log can
    never fill the pipe and stall it. :attr:`url` and :attr:`port` are None when it did not start.
    Leaving a ``with`` block stops it cleanly (SIGTERM)."""

    BANNER_START = ""
    STOP_TIMEOUT = 15.0

    def __init__(self, args: list[str], *, env: dict[str, str] | None = None, startup_timeout: float = START_TIMEOUT,
                 command: list[str] | None = None):
        self.process = subprocess.Popen([*(command or MOCKSERVER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=env)
        self.pid = self.process.pid
        self._banner: list[str] = []
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._started = threading.Event()
        self._readers = [
            threading.Thread(target=self._drain_stdout, daemon=True),
            threading.Thread(target=_collect, args=(self.process.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        # A process that never prints its banner must not hang the test run.
        self.started = self._started.wait(startup_timeout) and self.banner.startswith(self.BANNER_START)
        self.url = self._banner[0].rsplit(" ", 1)[1].strip() if self.started else None
        self.port = int(self.url.rsplit(":", 1)[1]) if self.url else None

    def _drain_stdout(self) -> None:
        lines = self._banner
        for line in self.process.stdout:
            lines.append(line)
            if lines is self._banner and (line.startswith(BANNER_END) or not lines[0].startswith(self.BANNER_START)):
                lines = self.lines  # the banner is complete (or is not one: the start failed)
                self._started.set()
        self._started.set()

    @property
    def banner(self) -> str:
        return "".join(self._banner)

    @property
    def output(self) -> str:
        """Everything written so far: the banner and the rest of stdout, then stderr."""
        return self.banner + "".join(self.lines) + "".join(self.errors)

    def admin_token(self) -> str:
        line = next(line for line in self._banner if "admin token:" in line)
        return line.split("admin token:", 1)[1].split()[0]

    def stop(self, sig: int = signal.SIGTERM, timeout: float | None = None) -> tuple[int, str]:
        """Send ``sig`` (SIGTERM: the clean stop), wait, return the exit code and all output
        written after the banner (stdout, then stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=self.STOP_TIMEOUT if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        for reader in self._readers:
            reader.join(timeout=5)
        return self.process.returncode, "".join(self.lines) + "".join(self.errors)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as after a crash."""
        self.stop(signal.SIGKILL)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                pass  # killed by stop()
        for reader in self._readers:
            reader.join(timeout=5)  # all its output is in, also when it ended by itself


class Server(MockserverProcess):
    """``mockserver --port 0 ARGS``: the fake, which must start (``access_log`` keeps the per-request log
    on; off by default: quieter and faster; ``command`` is how ``mockserver`` is run, default
    :data:`MOCKSERVER`)."""

    BANNER_START = BANNER_START

    def __init__(self, *args: str, access_log: bool = False, env: dict[str, str] | None = None,
                 startup_timeout: float = START_TIMEOUT, command: list[str] | None = None):
        super().__init__(["--port", "0", *([] if access_log else ["--no-access-log"]), *args], env=env,
                         startup_timeout=startup_timeout, command=command)
        if not self.started:
            self.kill()
            raise AssertionError("mockserver did not start:\n" + self.output)

    def request(self, method: str, path: str, *, token: str | None = None, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Message, Any]:
        """(status, headers (case-insensitive), JSON body or None) of one request."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                return response.status, response.headers, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, err.headers, json.loads(raw) if raw else None

    def get(self, path: str, token: str | None = "acme-admin-token") -> tuple[int, Message, Any]:
        return self.request("GET", path, token=token)

    def wait_for(self, predicate, timeout: float = 30, interval: float = 0.1):
        """Poll until ``predicate()`` is truthy (a correctness wait with a generous deadline, not a timing check)."""
        return wait_for(predicate, timeout=timeout, interval=interval)

    def rss_kib(self) -> int:
        """The server process's resident memory, in KiB (Linux)."""
        with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS line")


class ProxyProcess(MockserverProcess):
    """``mockserver proxy TARGET --port 0 ARGS``; one that cannot start is kept for its output (url None)."""

    BANNER_START = PROXY_BANNER_START
    STOP_TIMEOUT = 30.0

    def __init__(self, target: str, *args: str, env: dict[str, str] | None = None, timeout: float = START_TIMEOUT):
        super().__init__(["proxy", target, "--port", "0", *args], env=env, startup_timeout=timeout)


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.05):
    """Poll ``predicate()`` until it is truthy or ``timeout`` seconds have passed; its last value.
    A correctness wait with a generous deadline (sleeping between polls), not a timing check."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def _collect(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


def raw_request(port: int, data: bytes, *, timeout: float = 10) -> bytes:
    """Send ``data`` as is, return everything the server sends until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may answer and close before it has read everything
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of one raw HTTP/1.1 response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def contract_config(headers: dict[str, str], *, max_examples: int, **extra):
    """The project's Schemathesis configuration (contract/schemathesis.toml) for an in-process run:
    the file as it is, plus these headers, an example budget and a fixed seed."""
    import tomllib

    from schemathesis.config import SchemathesisConfig

    from tests.conftest import ROOT

    data = tomllib.loads((ROOT / "contract" / "schemathesis.toml").read_text(encoding="utf-8"))
    data.update({"headers": headers, "generation": {"max-examples": max_examples}, "seed": 20261129, **extra})
    return SchemathesisConfig.from_dict(data)


# -- in-process servers: apps on real loopback sockets, served on a thread ------------------------


def fresh_fake():
    """(app, store): the fake on the bundled fixtures, with a store of its own (runs that PATCH and
    DELETE consume seed data), built by the one builder."""
    fake = build_fake()
    return fake.app, fake.store


def build_fake(options=None):
    """The fake on the bundled fixtures, with a store of its own, as the one builder returns it
    (:class:`mockserver.app.build.Fake`)."""
    from mockserver.app.build import ServerOptions, build_app
    from mockserver.cli import build_store

    return build_app(build_store([]), options or ServerOptions())


class LiveServer(Background):
    """An ASGI app (the fake from :func:`fresh_fake`, a variant of it) on ``http://HOST:PORT`` (a free
    port), served in a thread the one way the fake is served (:mod:`mockserver.app.serve`), until
    ``stop()``. ``config`` replaces that configuration (for a server that is not the fake); ``options``
    are added to it (TLS files, for instance)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", config: uvicorn.Config | None = None, **options: Any):
        super().__init__(app, host, config=config, log_level="critical", **options)


class Served(LiveServer):
    """An ASGI app served as the proxy command serves it (no Server or Date header of its own), on a free
    loopback port, started."""

    def __init__(self, app: Any):
        from mockserver.proxy.command import server_config

        super().__init__(app, config=server_config(app, log_level="critical"))
        self.start()


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


def forward(handler: BaseHTTPRequestHandler, upstream, path: str, body: bytes | None) -> None:
    """Send ``handler``'s request (``path``, ``body``) to ``upstream`` (a urlsplit result) on a connection
    of its own and relay the answer whole: what a plain HTTP hop in front of a deployment does."""
    conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("connection", "keep-alive")}
    conn.request(handler.command, path, body=body, headers=headers)
    answer = conn.getresponse()
    data = answer.read()
    handler.send_response(answer.status)
    for key, value in answer.getheaders():
        if key.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)
    conn.close()


class HopServer(ThreadingHTTPServer):
    """A threaded loopback HTTP server for the tests' hops (relay, gateway): a client that drops its
    connection (reset, broken pipe) is a client's right, not an error to print (in-process runs would
    find the traceback in their captured stderr)."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class Relay:
    """A loopback HTTP relay to ``upstream`` (its own connections; a hop that is not the fake, as a
    port-forward or tunnel to a deployment would be): records every method it gets."""

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        seen: list[str] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

            def log_message(self, *args):
                pass

            def _relay(self):
                with lock:
                    seen.append(self.command)
                length = int(self.headers.get("Content-Length") or 0)
                forward(self, parts, self.path, self.rfile.read(length) if length else None)

            do_GET = do_HEAD = do_OPTIONS = do_POST = do_PUT = do_PATCH = do_DELETE = do_TRACE = _relay

        self.seen = seen
        self.server = HopServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (the interface of the default route), or None."""
    from mockserver.core.loopback import is_loopback

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # UDP connect: picks a route, sends nothing
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    if is_loopback(address):
        return None
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((address, 0))
    except OSError:
        return None
    return address
