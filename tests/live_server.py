"""``mockserver`` on a real loopback port, as users start it, for the tests that need a real server
(a browser, --watch, the banner). Its output is drained by threads, so it never blocks on a pipe."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

MOCKSERVER = [sys.executable, "-m", "mockserver"]


class LiveServer:
    def __init__(self, *args: str, startup_timeout: float = 60):
        self.process = subprocess.Popen(
            [*MOCKSERVER, "--port", "0", "--no-access-log", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._started = threading.Event()
        threading.Thread(target=self._drain, args=(self.process.stdout, self.stdout, True), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.process.stderr, self.stderr, False), daemon=True).start()
        if not self._started.wait(startup_timeout) or not self.stdout[0].startswith("Users API mock serving on "):
            self.stop()
            raise RuntimeError("mockserver did not start:\n" + "".join(self.stdout + self.stderr))
        self.url = self.stdout[0].rsplit(" ", 1)[1].strip()
        self.port = int(self.url.rsplit(":", 1)[1])

    def _drain(self, stream, lines: list[str], is_stdout: bool) -> None:
        for line in stream:
            lines.append(line)
            if is_stdout and line.startswith("Press Ctrl-C"):
                self._started.set()
        if is_stdout:
            self._started.set()

    @property
    def banner(self) -> str:
        return "".join(self.stdout)

    def admin_token(self) -> str:
        line = next(line for line in self.stdout if "admin token:" in line)
        return line.split("admin token:", 1)[1].split()[0]

    def request(self, method: str, path: str, *, token: str | None = None, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
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
                return response.status, dict(response.headers), json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, dict(err.headers), json.loads(raw) if raw else None

    def wait_for(self, predicate, timeout: float = 30, interval: float = 0.1):
        """Poll until ``predicate()`` is truthy (a correctness wait with a generous deadline, not a timing check)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(interval)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
