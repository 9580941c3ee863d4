"""A gateway in front of the fake, as real deployments have one: a loopback HTTP hop (so not the
proven fake) that serves the API under a base path, answers some requests itself with a rate limit
(429, with or without Retry-After) or a 503 with Retry-After, and passes the others on."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.support import HopServer, forward


class Gateway:
    """``Gateway(upstream, base_path="/identity", every=20, status=429, retry_after="1")``.

    ``every``: the gateway itself answers every N-th request (0: never; 1: always) with ``status``
    (a problem+json body, and ``Retry-After: retry_after`` unless it is None). Requests outside
    ``base_path`` get a 404 from the gateway. ``refused`` counts what it answered itself,
    ``passed`` what reached the fake (method, path as the fake saw it). ``after``: the first N requests
    pass whatever ``every`` says (a limit that starts in the middle of a run)."""

    def __init__(self, upstream: str, *, base_path: str = "", every: int = 0, status: int = 429,
                 retry_after: str | None = "1", after: int = 0):
        parts = urlsplit(upstream)
        lock = threading.Lock()
        gateway = self
        self.refused = 0
        self.passed: list[tuple[str, str]] = []
        self.count = 0
        self.outside: list[str] = []  # requests that were not under the base path (404 from the gateway)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with lock:
                    gateway.count += 1
                    limited = every and gateway.count > after and gateway.count % every == 0
                    if limited:
                        gateway.refused += 1
                if limited:
                    headers = {"Content-Type": "application/problem+json"}
                    if retry_after is not None:
                        headers["Retry-After"] = retry_after
                    self._answer(status, b'{"title": "slow down", "status": %d}' % status, headers)
                    return
                path = self.path
                if base_path:
                    if not (path == base_path or path.startswith(base_path + "/") or path.startswith(base_path + "?")):
                        with lock:
                            gateway.outside.append(path)
                        self._answer(404, b"no route", {"Content-Type": "text/plain"})
                        return
                    path = path[len(base_path):] or "/"
                with lock:
                    gateway.passed.append((self.command, path.split("?", 1)[0]))
                forward(self, parts, path, body)

            do_GET = do_HEAD = do_OPTIONS = do_POST = do_PUT = do_PATCH = do_DELETE = do_TRACE = _relay

        self.server = HopServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.origin + base_path
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
