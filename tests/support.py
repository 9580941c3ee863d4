"""The test harness: everything tests share that is not a pytest fixture (those are in conftest.py).

- :class:`Server`: the real ``mockserver`` command on a free port, started as users start it
  (``python -m mockserver --port 0``); the URL is read from its banner and its output is drained by
  threads (so a chatty access log can never fill the pipe and stall the server);
- :func:`run_cli`: the command run to completion;
- :func:`raw_request` / :func:`parse_response`: HTTP/1.1 over a plain socket, for the requests a
  client library would refuse to send;
- :func:`assert_problem`: the checks every problem answer must pass;
- :func:`contract_config`: the project's Schemathesis configuration for an in-process run.
"""

from __future__ import annotations

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
from typing import Any

MOCKSERVER = [sys.executable, "-m", "mockserver"]
START_TIMEOUT = 60.0
PROBLEM = "application/problem+json"
BANNER_START = "Users API mock serving on http://127.0.0.1:"
BANNER_END = "Press Ctrl-C"


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


class Server:
    """``mockserver ARGS`` started on a free port; the URL is read from its banner.

    ``access_log`` keeps the per-request log on (off by default: quieter and faster). The banner is
    :attr:`banner`; everything the process writes after it is collected in :attr:`output` (stdout)
    and :attr:`errors` (stderr). Leaving a ``with`` block stops it cleanly (SIGTERM)."""

    def __init__(self, *args: str, access_log: bool = False, env: dict[str, str] | None = None,
                 startup_timeout: float = START_TIMEOUT):
        command = [*MOCKSERVER, "--port", "0", *([] if access_log else ["--no-access-log"]), *args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.pid = self.process.pid
        self._banner: list[str] = []
        self.output: list[str] = []
        self.errors: list[str] = []
        self._started = threading.Event()
        self._readers = [
            threading.Thread(target=self._drain_stdout, daemon=True),
            threading.Thread(target=_collect, args=(self.process.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        # A server that never prints its banner must not hang the test run.
        if not self._started.wait(startup_timeout) or not self.banner.startswith(BANNER_START):
            self.kill()
            raise AssertionError("mockserver did not start:\n" + self.banner + "".join(self.output + self.errors))
        self.url = self._banner[0].rsplit(" ", 1)[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def _drain_stdout(self) -> None:
        lines = self._banner
        for line in self.process.stdout:
            lines.append(line)
            if lines is self._banner and (line.startswith(BANNER_END) or not lines[0].startswith(BANNER_START)):
                lines = self.output  # the banner is complete (or is not one: the start failed)
                self._started.set()
        self._started.set()

    @property
    def banner(self) -> str:
        return "".join(self._banner)

    def admin_token(self) -> str:
        line = next(line for line in self._banner if "admin token:" in line)
        return line.split("admin token:", 1)[1].split()[0]

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

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> tuple[int, str]:
        """Send ``sig`` (SIGTERM: the clean stop), wait, return the exit code and all output
        written after the banner (stdout, then stderr)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        for reader in self._readers:
            reader.join(timeout=5)
        return self.process.returncode, "".join(self.output) + "".join(self.errors)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as after a crash."""
        self.stop(signal.SIGKILL)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                pass  # killed by stop()


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
