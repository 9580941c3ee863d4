"""The dashboard's files, served by the fake itself, and the index page at ``/``.

``/__admin/ui/`` serves the files of ``mockserver/admin/ui/`` (shipped in the package: plain HTML,
CSS and one JavaScript module; no CDN, no build step, works offline). The files are public, as
Swagger UI is: everything the page shows comes from the admin API, which needs the admin token
(typed into the page, or passed in the URL fragment ``#token=...``, which browsers never send).

``GET /`` from a browser (``Accept: text/html``) answers a small HTML page that links the Swagger UI
and the dashboard; any other ``GET /`` passes on (the Users API's 404 problem).
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.admin.api import PREFIX
from mockserver.core.asgi import header, send_whole

UI_DIR = Path(__file__).with_name("ui")
UI_PATH = PREFIX + "/ui"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
]


def _files() -> dict[str, Path]:
    """The servable files by name: only what is in the directory (no path from a request reaches the
    file system)."""
    return {path.name: path for path in UI_DIR.iterdir() if path.is_file() and path.suffix in TYPES}


class Dashboard:
    def __init__(self, app: ASGIApp, *, swagger_ui_path: str | None):
        self.app = app
        self.files = _files()
        self.swagger_ui_path = swagger_ui_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == UI_PATH:
            await _send(send, scope, 308, b"", "text/plain", [("Location", UI_PATH + "/")])
            return
        if path.startswith(UI_PATH + "/"):
            name = path[len(UI_PATH) + 1:] or "index.html"
            file = self.files.get(name)
            if file is None:
                body = f"no dashboard file {name[:80]!r}; the dashboard is at {UI_PATH}/".encode()
                await _send(send, scope, 404, body, "text/plain; charset=utf-8")
                return
            await _send(send, scope, 200, file.read_bytes(), TYPES[file.suffix])
            return
        if path == "/" and "text/html" in (header(scope, b"accept") or ""):
            await _send(send, scope, 200, self._index().encode(), TYPES[".html"])
            return
        await self.app(scope, receive, send)

    def _index(self) -> str:
        swagger = (f'<li><a href="{html.escape(self.swagger_ui_path)}/">Swagger UI</a>: the Users API\'s '
                   f'contract, with "Try it out"</li>') if self.swagger_ui_path else ""
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Users API mock</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="{UI_PATH}/style.css"></head>
<body><h1>Users API mock</h1>
<p>This is a mock of the Users API. The API itself is under <code>/api/v1/</code> and <code>/api/v2/</code>.</p>
<ul>
{swagger}
<li><a href="{UI_PATH}/">Dashboard</a>: recent requests, customers and users, sessions, scenario rules
(needs the admin token printed at start-up)</li>
<li><a href="/openapi.json">The Users API's OpenAPI document</a></li>
<li><a href="{PREFIX}/openapi.json">The admin API's OpenAPI document</a></li>
</ul></body></html>
"""


async def _send(send: Send, scope: Scope, status: int, body: bytes, content_type: str,
                extra: list[tuple[str, str]] | None = None) -> None:
    await send_whole(send, status, body, content_type=content_type, headers=[*SECURITY_HEADERS, *(extra or [])],
                     head=scope["method"] == "HEAD")
