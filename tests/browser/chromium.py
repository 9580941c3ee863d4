"""Real headless Chromium for the browser tests: Debian's ``chromium`` package, run as CI runs it.

``dump_dom(url)`` loads a page, lets its scripts run (fetches included: virtual time waits for the
network) and returns the DOM as HTML. ``PageServer`` serves pages from a second loopback port, so
the page's origin differs from the fake's and every call is a real cross-origin request.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHROMIUM_NAMES = ("chromium", "chromium-browser")
INSTALL_HINT = "apt-get update && apt-get install -y chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-proxy-server",  # loopback only
)


def chromium_binary() -> str | None:
    override = os.environ.get("MOCKSERVER_CHROMIUM")
    if override:
        return override
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


def dump_dom(url: str, *, budget_ms: int = 20_000, timeout: float = 120) -> str:
    binary = chromium_binary()
    assert binary, "chromium is not installed"
    with tempfile.TemporaryDirectory(prefix="mockserver-chromium-", ignore_cleanup_errors=True) as profile:
        result = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
            capture_output=True, text=True, timeout=timeout,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def result_of(dom: str, element_id: str = "result") -> dict:
    """The JSON a page wrote into ``<pre id="result">``."""
    match = re.search(rf'<pre id="{element_id}">(.*?)</pre>', dom, re.S)
    assert match, dom[-3000:]
    return json.loads(html.unescape(match.group(1)))


class PageServer:
    """Serves ``pages`` ({path: html}) on a free loopback port in a thread."""

    def __init__(self, pages: dict[str, str]):
        served = {path: text.encode() for path, text in pages.items()}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = served.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> PageServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DevTools:
    """Headless Chromium driven over the DevTools protocol (for pages a test must click through).
    Needs the ``websockets`` package (it comes with ``uvicorn[standard]``, which Connexion installs)."""

    def __init__(self, *, timeout: float = 60):
        import time
        import urllib.request

        from websockets.sync.client import connect

        binary = chromium_binary()
        assert binary, "chromium is not installed"
        self._profile = tempfile.TemporaryDirectory(prefix="mockserver-chromium-", ignore_cleanup_errors=True)
        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = os.path.join(self._profile.name, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            assert time.monotonic() < deadline and self.process.poll() is None, "chromium did not start"
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.loads(response.read())
        page = next(t for t in targets if t["type"] == "page")
        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=timeout)
        self._ids = iter(range(1, 1_000_000))
        self.timeout = timeout

    def send(self, method: str, **params):
        message_id = next(self._ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=self.timeout))
            if message.get("id") == message_id:
                assert "error" not in message, message
                return message.get("result")

    def navigate(self, url: str) -> None:
        """Load ``url`` and wait until it has loaded (evaluating before that could run in the page
        being left, whose context the navigation then destroys)."""
        import time

        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if self.evaluate("document.readyState === 'complete' ? location.href : ''") == url:
                    return
            except AssertionError:
                pass  # the context went away mid-navigation: ask again
            assert time.monotonic() < deadline, f"{url} did not load"
            time.sleep(0.1)

    def evaluate(self, expression: str):
        """Evaluate JavaScript in the page (awaiting a promise) and return its JSON value."""
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True,
                           timeout=int(self.timeout * 1000))
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self._profile.cleanup()

    def __enter__(self) -> DevTools:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
