"""The request journal: the last N requests to the Users API, for the admin API to show.

One entry per request: method, path, query, status, duration, timestamp, session, the masked
``Authorization`` header and what chaos or ``Prefer`` applied. A token is never kept in full: only
its first few characters (``Bearer jane…``), enough to tell fixture tokens apart. Requests to the
admin API and to the Swagger UI are not recorded.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.core.asgi import call_observed
from mockserver.core.clock import format_timestamp
from mockserver.features.chaos import NOTES_KEY
from mockserver.features.sessions import HEADER_KEY as SESSION_HEADER

DEFAULT_SIZE = 1000
MAX_QUERY_CHARS = 500


def mask_authorization(value: str) -> str:
    """``Bearer acme-admin-token`` -> ``Bearer acme…``: the scheme and at most 4 characters."""
    scheme, space, credentials = value.lstrip().partition(" ")
    if not space:
        scheme, credentials = "", scheme
    credentials = credentials.strip()
    shown = 4 if len(credentials) >= 10 else 2 if len(credentials) >= 6 else 0
    masked = credentials[:shown] + "…" if credentials else ""
    return f"{scheme} {masked}".strip()


class Journal:
    """The last ``size`` entries, oldest first. Thread-safe."""

    def __init__(self, size: int = DEFAULT_SIZE, shared: Any = None):
        self.size = size
        # A shared backend's journal (mockserver.store.redis_shared.RedisJournal): every replica's requests.
        self.shared = shared
        self._entries: deque[tuple[int, _Entry]] = deque(maxlen=size)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, entry: _Entry) -> None:
        if self.shared is not None:
            self.shared.record(entry.render(0))
            return
        with self._lock:
            self._entries.append((next(self._ids), entry))

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        if self.shared is not None:
            return self.shared.entries(limit)
        with self._lock:
            items = list(self._entries)
        if limit:
            items = items[-limit:]
        return [entry.render(entry_id) for entry_id, entry in items]

    def __len__(self) -> int:
        return len(self.shared) if self.shared is not None else len(self._entries)

    def clear(self) -> int:
        if self.shared is not None:
            return self.shared.clear()
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count


@dataclass
class JournalMiddleware:
    """Outside CORS, the admin API, chaos and the guard (its place: mockserver.app.pipeline): records every
    request except those under ``skip`` prefixes, with the final status (CORS preflights, guard answers
    and chaos included) and the whole duration."""

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

        def record(status: int) -> None:
            session = authorization = None
            for key, value in scope.get("headers", ()):
                if key == b"authorization":
                    authorization = mask_authorization(value.decode("latin-1"))
                elif key == SESSION_HEADER:
                    session = value.decode("latin-1")[:80]
            self.journal.record(
                _Entry(started_at, scope["method"], scope["path"], scope.get("query_string", b""), status,
                       time.perf_counter() - started, session, authorization, notes)
            )

        # A request that ended without a whole answer is recorded too (status 0: none sent).
        await call_observed(self.app, scope, receive, send, record)


class _Entry(tuple):
    """One request, kept raw (formatting is left to whoever reads the journal, off the request path)."""

    __slots__ = ()

    def __new__(cls, *fields):
        return tuple.__new__(cls, fields)

    def render(self, entry_id: int) -> dict[str, Any]:
        started_at, method, path, raw_query, status, seconds, session, authorization, notes = self
        query = raw_query.decode("latin-1")
        return {
            "id": entry_id,
            "timestamp": format_timestamp(datetime.fromtimestamp(started_at, UTC)),
            "method": method,
            "path": path,
            "query": query[:MAX_QUERY_CHARS] + ("…" if len(query) > MAX_QUERY_CHARS else ""),
            "status": status,
            "durationMs": round(seconds * 1000, 1),
            "session": session,
            "authorization": authorization,
            "notes": list(notes),
        }
