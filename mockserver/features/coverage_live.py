"""The fake's own coverage counters, behind ``GET /__admin/coverage``.

:class:`CoverageMiddleware` counts every answer of the Users API by operation and status as it is
sent (the status line, before the body: the answer is counted before the client can read it), into
:class:`CoverageCounters`: one :class:`~mockserver.spec.coverage.Tally` for all traffic and one per
``X-Mock-Session`` name. Unlike the journal it keeps no request, only counts, so it sees every request
since start-up or the last reset whatever ``--journal-size`` is. Memory stays bounded: ids are folded
into path templates, a session keeps at most 256 distinct (method, path, status) keys, and at most
``max_sessions`` sessions are tracked (the least recently used one is forgotten first). A request that got no answer at all (the client went away) is not counted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.features.sessions import DEFAULT_MAX_SESSIONS, HEADER_KEY, NAME_PATTERN
from mockserver.spec.coverage import Tally

SESSION_MAX_KEYS = 256  # distinct (method, path, status) per session: the 56 documented pairs and some more


class CoverageCounters:
    """All traffic's counts, and each session's, since start-up or their last :meth:`reset`."""

    def __init__(self, spec: Mapping[str, Any], *, max_sessions: int = DEFAULT_MAX_SESSIONS, shared: Any = None):
        self.spec = spec
        # A shared backend's counters (mockserver.store.redis_shared.RedisCoverage): every replica's answers.
        self.shared = shared
        self.max_sessions = max_sessions
        self._all = Tally(spec)
        self._sessions: OrderedDict[str, Tally] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, method: str, path: str, status: int, session: str | None = None,
               scope: dict[str, Any] | None = None) -> None:
        key = self._all.key(method, path, status, scope)  # scope: the path's match kept there, not made again
        if self.shared is not None:
            self.shared.record(key, session if session is not None and NAME_PATTERN.match(session) else None)
            return
        self._all.add_key(key)
        if session is None or not NAME_PATTERN.match(session):
            return  # an invalid name got a 400; no one can ask for its coverage
        with self._lock:
            tally = self._sessions.get(session)
            if tally is None:
                tally = self._sessions[session] = Tally(self.spec, max_keys=SESSION_MAX_KEYS, like=self._all)
                while len(self._sessions) > self.max_sessions:
                    self._sessions.popitem(last=False)
            else:
                self._sessions.move_to_end(session)
        tally.add_key(key)

    def coverage(self, session: str | None = None) -> dict[str, Any]:
        """The coverage model (:func:`mockserver.spec.coverage.compute_coverage`) of all traffic, or of one session's."""
        if self.shared is not None:
            tally = Tally(self.spec, like=self._all)
            for key, count in self.shared.counts(session):
                tally.add_key(key, count)
            return tally.coverage()
        if session is None:
            return self._all.coverage()
        with self._lock:
            tally = self._sessions.get(session)
        return (tally or Tally(self.spec, like=self._all)).coverage()

    def reset(self, session: str | None = None) -> None:
        """Start counting again: all traffic's counts (``None``), or one session's."""
        if self.shared is not None:
            self.shared.reset(session)
            return
        if session is None:
            self._all.clear()
            return
        with self._lock:
            self._sessions.pop(session, None)


class CoverageMiddleware:
    """Counts each answer of a request outside the ``skip`` prefixes into ``counters``."""

    def __init__(self, app: ASGIApp, *, counters: CoverageCounters, skip: tuple[str, ...] = ()):
        self.app = app
        self.counters = counters
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.skip):
            await self.app(scope, receive, send)
            return
        counted = False

        async def counting_send(message: Message) -> None:
            nonlocal counted
            if message["type"] == "http.response.start" and not counted:
                counted = True
                session = next((value.decode("latin-1") for key, value in scope.get("headers", ())
                                if key == HEADER_KEY), None)
                self.counters.record(scope["method"], scope["path"], message["status"], session, scope)
            await send(message)

        await self.app(scope, receive, counting_send)
