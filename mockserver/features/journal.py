"""The request journal: the last N requests to the Users API, for the admin API to show and verify.

One entry per request: method, path, query, status, duration, timestamp, session, the request's and
the answer's headers and bodies (each body bounded to :data:`MAX_BODY_BYTES`, with a ``truncated``
mark), the problem ``detail`` of an error answer, and what forced the answer (``Prefer``, a scenario
rule, chaos). A secret is never kept in full: ``Authorization`` and every token-like header
(:func:`is_secret_header`) keep at most their first few characters (``Bearer jane…``), enough to tell
fixture tokens apart. Requests to the admin API and to the Swagger UI are not recorded.

The bodies of all entries together are bounded too (:data:`MAX_TOTAL_BODY_BYTES`: the oldest entries go
first). The request path only copies bytes (bounded); decoding, problem details, the operation and the curl
line are worked out when the journal is read (:meth:`_Entry.render`).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shlex
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.core.asgi import call_observed
from mockserver.core.clock import format_timestamp
from mockserver.features.chaos import NOTES_KEY
from mockserver.features.sessions import HEADER_KEY as SESSION_HEADER
from mockserver.spec.routes import RouteTable

DEFAULT_SIZE = 1000
MAX_QUERY_CHARS = 500
MAX_BODY_BYTES = 64 * 1024  # of each body, request and answer
MAX_TOTAL_BODY_BYTES = 32 * 1024 * 1024  # of every body the journal holds: its memory stays bounded
MAX_HEADERS = 50  # header fields kept per message
MAX_HEADER_CHARS = 1000  # of one kept value
MASK = "…"
# Header names that carry a credential: Authorization and Cookie, and anything named like a token or key.
_SECRET_NAME = re.compile(r"authorization|cookie|token|secret|password|passwd|api[-_]?key|credential|signature",
                          re.IGNORECASE)
# What forced an answer, as the chaos and scenario features note it (latency notes only delay it).
_FORCING_NOTES = ("Prefer code=", "scenario rule ", "chaos fault ")


def mask_authorization(value: str) -> str:
    """``Bearer acme-admin-token`` -> ``Bearer acme…``: the scheme and at most 4 characters."""
    scheme, space, credentials = value.lstrip().partition(" ")
    if not space:
        scheme, credentials = "", scheme
    credentials = credentials.strip()
    shown = 4 if len(credentials) >= 10 else 2 if len(credentials) >= 6 else 0
    masked = credentials[:shown] + MASK if credentials else ""
    return f"{scheme} {masked}".strip()


def is_secret_header(name: str) -> bool:
    """Whether a header field carries a credential (``Authorization``, ``Cookie``, ``X-Api-Key``,
    ``X-Auth-Token`` ...); its value is masked wherever the journal shows it."""
    return bool(_SECRET_NAME.search(name))


def masked_headers(raw: list[tuple[bytes, bytes]] | tuple) -> tuple[tuple[str, str], ...]:
    """Header fields as text, secrets masked, bounded in number and length."""
    kept = []
    for key, value in itertools.islice(raw, MAX_HEADERS):
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        if is_secret_header(name):
            text = _masked_secret(name, text)
        kept.append((name, text[:MAX_HEADER_CHARS]))
    return tuple(kept)


def _masked_secret(name: str, value: str) -> str:
    """``Authorization``: its scheme and a few characters; cookies: their names only; any other: a few characters."""
    if "authorization" in name:
        return mask_authorization(value)
    if "cookie" in name:
        return "; ".join(f"{part.partition('=')[0].strip()[:40]}={MASK}" if "=" in part else MASK
                         for part in value.split(";") if part.strip())
    value = value.strip()
    shown = 4 if len(value) >= 10 else 2 if len(value) >= 6 else 0
    return value[:shown] + MASK if value else ""


class Journal:
    """The last ``size`` entries, oldest first, holding at most ``body_budget`` bytes of bodies (the oldest
    entries go first when a newer one would pass it). Thread-safe."""

    def __init__(self, size: int = DEFAULT_SIZE, routes: RouteTable | None = None, *,
                 body_budget: int = MAX_TOTAL_BODY_BYTES, shared: Any = None):
        self.size = size
        self.routes = routes  # the Users API's routes: each entry's operationId and path template
        self.body_budget = body_budget
        # A shared backend's journal (mockserver.store.redis_shared.RedisJournal): every replica's requests.
        self.shared = shared
        self._entries: deque[tuple[int, _Entry]] = deque()
        self._body_bytes = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, entry: _Entry) -> None:
        if self.shared is not None:
            self.shared.record(entry.render(0, self.routes))
            return
        with self._lock:
            self._entries.append((next(self._ids), entry))
            self._body_bytes += entry.body_bytes
            while len(self._entries) > self.size or (self._body_bytes > self.body_budget and len(self._entries) > 1):
                self._body_bytes -= self._entries.popleft()[1].body_bytes

    def entries(self, limit: int | None = None, *, bodies: bool = True) -> list[dict[str, Any]]:
        if self.shared is not None:
            shared = self.shared.entries(limit)
            return shared if bodies else [_light(entry) for entry in shared]
        with self._lock:
            items = list(self._entries)
        if limit:
            items = items[-limit:]
        return [entry.render(entry_id, self.routes, bodies=bodies) for entry_id, entry in items]

    def entry(self, entry_id: int) -> dict[str, Any] | None:
        if self.shared is not None:
            return next((entry for entry in self.shared.entries() if entry["id"] == entry_id), None)
        with self._lock:
            found = next((entry for number, entry in self._entries if number == entry_id), None)
        return found.render(entry_id, self.routes) if found is not None else None

    def __len__(self) -> int:
        return len(self.shared) if self.shared is not None else len(self._entries)

    def clear(self) -> int:
        if self.shared is not None:
            return self.shared.clear()
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._body_bytes = 0
            return count


def _light(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry without its headers, bodies and curl line (``GET /__admin/journal?bodies=false``)."""
    return {key: value for key, value in entry.items() if key not in ("request", "response", "curl")}


class _Capture:
    """The first :data:`MAX_BODY_BYTES` of a body and its whole size."""

    __slots__ = ("chunks", "kept", "size")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.kept = self.size = 0

    def add(self, chunk: bytes) -> None:
        if chunk and self.kept < MAX_BODY_BYTES:
            part = chunk[: MAX_BODY_BYTES - self.kept]
            self.chunks.append(part)
            self.kept += len(part)
        self.size += len(chunk)

    def freeze(self) -> tuple[bytes, int]:
        return b"".join(self.chunks), self.size


@dataclass
class JournalMiddleware:
    """Outside CORS, the admin API, chaos and the guard (its place: mockserver.app.pipeline): records every
    request except those under ``skip`` prefixes, with the final status (CORS preflights, guard answers
    and chaos included), both bodies and the whole duration."""

    app: ASGIApp
    journal: Journal
    skip: tuple[str, ...] = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip):
            await self.app(scope, receive, send)
            return
        started_at = time.time()
        started = time.perf_counter()
        notes: list[str] = scope.setdefault(NOTES_KEY, [])
        asked, answered = _Capture(), _Capture()
        answer_headers: list[tuple[bytes, bytes]] = []

        async def receive_copied() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                asked.add(message.get("body", b""))
            return message

        async def send_copied(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer_headers[:] = message.get("headers", ())
            elif message["type"] == "http.response.body":
                answered.add(message.get("body", b""))
            await send(message)

        def record(status: int) -> None:
            session = authorization = None
            for key, value in scope.get("headers", ()):
                if key == b"authorization":
                    authorization = mask_authorization(value.decode("latin-1"))
                elif key == SESSION_HEADER:
                    session = value.decode("latin-1")[:80]
            self.journal.record(
                _Entry(started_at, scope["method"], scope["path"], scope.get("query_string", b""), status,
                       time.perf_counter() - started, session, authorization, notes,
                       _origin(scope), masked_headers(scope.get("headers", ())), asked.freeze(),
                       masked_headers(answer_headers), answered.freeze())
            )

        # A request that ended without a whole answer is recorded too (status 0: none sent).
        await call_observed(self.app, scope, receive_copied, send_copied, record)


def _origin(scope: Scope) -> str:
    host = next((value.decode("latin-1") for key, value in scope.get("headers", ()) if key == b"host"), None)
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host[:200]}"


def body_view(body: bytes, size: int, headers: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """A body as the journal shows it: text when it is UTF-8 (base64 otherwise), its size, ``truncated``."""
    view: dict[str, Any] = {"size": size, "truncated": size > len(body)}
    content_type = next((value for name, value in headers if name == "content-type"), None)
    if content_type is not None:
        view["contentType"] = content_type
    if not size:
        view["text"] = None
        return view
    try:
        view["text"] = body.decode("utf-8")
    except UnicodeDecodeError as err:
        if view["truncated"] and err.start >= len(body) - 3:  # cut inside a character by the bound
            view["text"] = body[: err.start].decode("utf-8")
        else:
            view["text"], view["encoding"] = base64.b64encode(body).decode("ascii"), "base64"
    return view


def problem_detail(status: int, view: dict[str, Any]) -> str | None:
    """The ``detail`` of an error answer's problem document, when it has one."""
    if status < 400 or not view.get("text") or view.get("encoding") or view["truncated"]:
        return None
    try:
        document = json.loads(view["text"])
    except ValueError:
        return None
    detail = document.get("detail") if isinstance(document, dict) else None
    return detail if isinstance(detail, str) else None


def forced_by(notes: list[str]) -> str | None:
    """The note that forced the answer (``Prefer code=404``, ``scenario rule 3 code=503``, ``chaos fault 500``)."""
    return next((note for note in notes if note.startswith(_FORCING_NOTES)), None)


def curl_line(method: str, url: str, headers: tuple[tuple[str, str], ...], body: dict[str, Any]) -> str:
    """One shell line replaying the request. A masked credential becomes ``$TOKEN``: set it to the token first
    (the journal keeps only its first characters)."""
    parts = ["curl", "-X", method]
    for name, value in headers:
        if name in ("host", "content-length", "connection", "accept-encoding", "user-agent") or name.startswith("sec-"):
            continue
        if is_secret_header(name):
            scheme = value.split(" ", 1)[0] + " " if " " in value else ""
            parts += ["-H", f"{name}: {scheme}\x00TOKEN"]
            continue
        parts += ["-H", f"{name}: {value}"]
    if body.get("text") and not body.get("encoding"):
        parts += ["--data-binary", body["text"]]
    parts.append(url)
    line = " ".join(shlex.quote(part) for part in parts)
    # The token placeholder is left for the shell to expand: "...Bearer "$TOKEN"..."
    line = line.replace("\x00TOKEN", "'\"$TOKEN\"'")
    return line


class _Entry(tuple):
    """One request, kept raw (formatting is left to whoever reads the journal, off the request path)."""

    __slots__ = ()

    def __new__(cls, *fields):
        return tuple.__new__(cls, fields)

    @property
    def body_bytes(self) -> int:
        return len(self[11][0]) + len(self[13][0])

    def render(self, entry_id: int, routes: RouteTable | None = None, *, bodies: bool = True) -> dict[str, Any]:
        (started_at, method, path, raw_query, status, seconds, session, authorization, notes, origin,
         request_headers, (request_body, request_size), response_headers, (response_body, response_size)) = self
        query = raw_query.decode("latin-1")
        route = routes.match(path) if routes is not None else None
        asked = body_view(request_body, request_size, request_headers)
        answered = body_view(response_body, response_size, response_headers)
        target = path + (f"?{query}" if query else "")
        rendered = {
            "id": entry_id,
            "timestamp": format_timestamp(datetime.fromtimestamp(started_at, UTC)),
            "method": method,
            "path": path,
            "query": query[:MAX_QUERY_CHARS] + (MASK if len(query) > MAX_QUERY_CHARS else ""),
            "operationId": route.operation_id("GET" if method == "HEAD" else method) if route else None,
            "pathTemplate": route.template if route else None,
            "status": status,
            "durationMs": round(seconds * 1000, 1),
            "session": session,
            "authorization": authorization,
            "notes": list(notes),
            "forcedBy": forced_by(notes),
            "detail": problem_detail(status, answered),
        }
        if bodies:
            rendered["request"] = {"headers": dict(request_headers), "body": asked}
            rendered["response"] = {"headers": dict(response_headers), "body": answered}
            rendered["curl"] = curl_line(method, origin + target, request_headers, asked)
        return rendered
