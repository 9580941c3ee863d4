"""Helpers for tests that run the real ``mockserver`` command on a real port.

:class:`Server` starts the command as users start it (``python -m mockserver --port 0``), reads
the URL from its banner and keeps reading its output in the background (so a chatty access log can
never fill the pipe and stall the server). :func:`raw_request` speaks HTTP/1.1 over a plain socket,
for the requests a client library would refuse to send.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

MOCKSERVER = [sys.executable, "-m", "mockserver"]
START_TIMEOUT = 60.0


class Server:
    """``mockserver`` started on a free port; the URL is read from its banner.

    ``access_log`` keeps the per-request log on (off by default: quieter and faster). Everything
    the process writes after the banner is collected in :attr:`output` and :attr:`errors`."""

    def __init__(self, *args: str, access_log: bool = False, env: dict[str, str] | None = None):
        command = [*MOCKSERVER, "--port", "0", *([] if access_log else ["--no-access-log"]), *args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        # A server that never prints its banner must not hang the test run.
        watchdog = threading.Timer(START_TIMEOUT, self.process.kill)
        watchdog.start()
        try:
            first = self.process.stdout.readline()
            if not first.startswith("Users API mock serving on http://127.0.0.1:"):
                self.process.kill()
                raise AssertionError(first + self.process.stderr.read())
            self.url = first.rsplit(" ", 1)[1].strip()
            self.banner = [first]
            for line in self.process.stdout:
                self.banner.append(line)
                if line.startswith("Press Ctrl-C"):
                    break
        finally:
            watchdog.cancel()
        self.port = int(self.url.rsplit(":", 1)[1])
        self.pid = self.process.pid
        self.output: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=_collect, args=(self.process.stdout, self.output), daemon=True),
            threading.Thread(target=_collect, args=(self.process.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def get(self, path: str, token: str | None = "acme-admin-token"):
        request = urllib.request.Request(self.url + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, err.headers, json.loads(err.read() or b"null")

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
            self.kill()


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
