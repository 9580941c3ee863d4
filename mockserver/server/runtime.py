"""The running server's state, as the request path sees it: the store and the serving options.

One :class:`Runtime` per app, put into each request's ASGI scope by the app's middleware (no module
globals), read by the security function and the handlers.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from mockserver.store.memory import Store

SCOPE_KEY = "mockserver.server.runtime"
STORE_KEY = "mockserver.store.memory"  # set by the session middleware
# A request body is read once and parsed once, and both are carried in the scope to the handler:
BODY_KEY = "mockserver.server.body"  # the whole body (bytes), read and size-checked by the request guard
JSON_BODY_KEY = "mockserver.server.json_body"  # the body parsed and validated by the body validator


@dataclass
class Runtime:
    store: Store
    any_token: bool = False

    def store_for(self, scope: MutableMapping[str, Any]) -> Store:
        """The store a request works on: its session's (``X-Mock-Session``, chosen by
        :class:`mockserver.features.sessions.SessionMiddleware`), or the server's default state."""
        return scope.get(STORE_KEY) or self.store


def runtime_of(scope: MutableMapping[str, Any]) -> Runtime:
    return scope[SCOPE_KEY]


def current_store() -> Store:
    """The store of the request being handled: its session's, or the server's default state."""
    from connexion.context import scope

    return runtime_of(scope).store_for(scope)
