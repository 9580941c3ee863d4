"""Isolated sessions: ``X-Mock-Session: <name>`` gives a request its own copy of the state.

A session is a :meth:`Store.fork` of the server's store: it starts at the seed, shares every
record it has not changed (copy on write, user by user), and never sees another session's writes
or the default state's. Requests without the header use the default state.

- Names: 1-64 characters from ``A-Z a-z 0-9 . _ -``, starting with a letter or digit; anything
  else is a 400 problem, so a name is safe to print, log and put in a URL.
- Idle sessions expire ``ttl`` seconds after their last request; expired sessions are dropped
  lazily (when sessions are looked up), so no thread is needed.
- At most ``max_sessions`` live at once: a request that would create one more gets a 503 problem
  with ``Retry-After`` (the seconds until the least recently used session expires), so a fuzzer
  that invents names cannot exhaust memory. Existing sessions keep working.
- When the seed is replaced (admin API, ``--watch``) every session restarts from the new seed on
  its next request.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.core.asgi import header
from mockserver.core.problems import send_problem
from mockserver.server.runtime import STORE_KEY
from mockserver.store.memory import Store

HEADER = "X-Mock-Session"
HEADER_KEY = HEADER.lower().encode("latin-1")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")  # \Z: not "name\n"
NAME_RULE = "1-64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"
SESSION_KEY = "mockserver.session"
DEFAULT_TTL_SECONDS = 3600.0
DEFAULT_MAX_SESSIONS = 1000


class SessionError(Exception):
    status = 400
    headers: tuple[tuple[str, str], ...] = ()


class InvalidName(SessionError):
    pass


class TooManySessions(SessionError):
    status = 503

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail)
        self.headers = (("Retry-After", str(retry_after)),)


@dataclass
class _Session:
    store: Store
    created: float  # time.time(), for people
    last_used: float  # the clock's time, for expiry


class Sessions:
    """The live sessions of one server. Thread-safe."""

    def __init__(
        self,
        base: Store,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base = base
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # least recently used first

    @staticmethod
    def check_name(name: str) -> str:
        if not NAME_PATTERN.match(name):
            shown = name if len(name) <= 40 and name.isprintable() else repr(name[:40]) + "..."
            raise InvalidName(f"{HEADER}: {shown!s} is not a valid session name ({NAME_RULE})")
        return name

    def store(self, name: str) -> Store:
        """The session's store, created from the seed on first use (or after the seed changed)."""
        self.check_name(name)
        now = self._clock()
        with self._lock:
            self._expire(now)
            session = self._sessions.get(name)
            if session is not None and session.store.generation != self.base.generation:
                del self._sessions[name]  # made from a seed that has since been replaced
                session = None
            if session is None:
                if len(self._sessions) >= self.max_sessions:
                    oldest = next(iter(self._sessions.values()))
                    wait = max(1, math.ceil(oldest.last_used + self.ttl - now))
                    raise TooManySessions(
                        f"the server already holds its maximum of {self.max_sessions} sessions; reuse a session "
                        f"name, delete sessions with the admin API, or raise --max-sessions",
                        wait,
                    )
                session = _Session(self.base.fork(name), created=time.time(), last_used=now)
                self._sessions[name] = session
            else:
                session.last_used = now
                self._sessions.move_to_end(name)
            return session.store

    def touch(self, name: str) -> Store | None:
        """The store of a live session, marked as used; None when it would have to be created."""
        now = self._clock()
        with self._lock:
            session = self._sessions.get(name)
            if session is None or now - session.last_used >= self.ttl or \
                    session.store.generation != self.base.generation:
                return None
            session.last_used = now
            self._sessions.move_to_end(name)
            return session.store

    def _expire(self, now: float) -> None:
        while self._sessions:
            name, oldest = next(iter(self._sessions.items()))
            if now - oldest.last_used < self.ttl:
                break
            del self._sessions[name]

    def reset(self, name: str) -> bool:
        """Forget a session: its next request starts again from the seed. False if it did not exist."""
        with self._lock:
            existed = self._sessions.pop(name, None) is not None
        return bool(self.base.drop_fork(name)) or existed  # a shared backend: on every replica

    def clear(self) -> int:
        with self._lock:
            count = len(self._sessions)
            self._sessions.clear()
        self.base.drop_fork(None)
        return count

    def existing(self, name: str) -> Store | None:
        """The store of a live session, without creating or touching it."""
        with self._lock:
            self._expire(self._clock())
            session = self._sessions.get(name)
            if session is None or session.store.generation != self.base.generation:
                return None
            return session.store

    def describe(self) -> list[dict[str, Any]]:
        """Every live session: name, when it was created and last used, how many records it changed."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            items = list(self._sessions.items())
        return [
            {
                "name": name,
                "createdAt": _iso(session.created),
                "lastUsedAt": _iso(time.time() - (now - session.last_used)),
                "expiresInSeconds": max(0, round(session.last_used + self.ttl - now)),
                "changedRecords": session.store.changed_records() or 0,
            }
            for name, session in reversed(items)
        ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    from mockserver.core.clock import format_timestamp

    return format_timestamp(datetime.fromtimestamp(epoch, UTC))


def session_name(scope: Scope) -> str | None:
    return header(scope, HEADER_KEY)


class SessionMiddleware:
    """Chooses the store of a Users API request from its ``X-Mock-Session`` header and puts it
    into the scope, where :meth:`Runtime.store_for` finds it. Sits after the request guard, so a
    405/413/414 never creates a session; ``applies_to(scope)`` limits it to the Users API's paths."""

    def __init__(self, app: ASGIApp, *, sessions: Sessions, applies_to: Callable[[Scope], bool] = lambda scope: True):
        self.app = app
        self.sessions = sessions
        self.applies_to = applies_to

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            name = session_name(scope)
            if name is not None and self.applies_to(scope):
                store = self.sessions.touch(name)
                if store is None:
                    try:
                        # Creating one may parse the seed the first time (seconds for a big fixture):
                        # off the event loop.
                        store = await asyncio.to_thread(self.sessions.store, name)
                    except SessionError as err:
                        await send_problem(send, err.status, str(err), err.headers)
                        return
                scope[STORE_KEY] = store
                scope[SESSION_KEY] = name
        await self.app(scope, receive, send)
