"""Per-request costs of Connexion 3.3's FlaskApp that the mock removes, each without giving up
validation, auth, state or Flask. Measured with a profile of GET-by-id (see bench/).

1. :class:`InlineWSGI`: Connexion reaches Flask through a2wsgi, which hands every request to a worker
   thread and sends each part of the answer back through the event loop, waiting on a future each
   time. The mock's handlers only touch memory and never block, so the thread hop buys nothing:
   this bridge calls the WSGI app directly. (The request body has already been read whole and
   size-checked by :class:`mockserver.middleware.RequestGuard`.)
2. :data:`JSONIFIER`: Connexion's default serialises responses with ``indent=2`` and sorted keys,
   which forces Python's pure-Python encoder; compact JSON uses the C encoder and keeps the
   document's field order. Answers the handlers hand over already encoded pass through as they are.
3. :func:`cache_handler_signatures`: Connexion re-inspects the handler's and the token function's
   signatures on every request (``inspect.signature``); the answer never changes for a function,
   so it is cached.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from typing import Any

import connexion.decorators.parameter as connexion_parameter
import connexion.security as connexion_security
from a2wsgi.wsgi import build_environ
from connexion.jsonifier import Jsonifier
from starlette.types import Receive, Scope, Send


class InlineWSGI:
    """Calls the WSGI app in the event loop for HTTP requests; anything else (lifespan) goes to
    the bridge it replaces."""

    def __init__(self, wsgi_app: Callable[..., Any], fallback: Callable[..., Any]):
        self.wsgi_app = wsgi_app
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        environ = build_environ(scope, io.BytesIO(b"".join(chunks)))  # type: ignore[arg-type]
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return lambda data: body.append(data)

        body: list[bytes] = []
        result = self.wsgi_app(environ, start_response)
        try:
            body.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        await send(
            {
                "type": "http.response.start",
                "status": int(status.split(" ", 1)[0]),
                "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            }
        )
        await send({"type": "http.response.body", "body": b"".join(body)})


class PassThroughJsonifier(Jsonifier):
    """Connexion's jsonifier, except that ``bytes`` are taken as JSON already encoded (the store's
    kept answers, see :mod:`mockserver.store_render`) and passed through as they are."""

    def dumps(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, bytes):
            return data
        return super().dumps(data, **kwargs)


JSONIFIER = PassThroughJsonifier(json, separators=(",", ":"), ensure_ascii=False)


def cache_handler_signatures() -> None:
    """Make Connexion's per-request signature inspection (of handlers, and of the bearer-token
    function in the security layer) a cache lookup. Idempotent."""
    for module in (connexion_parameter, connexion_security):
        inspect_arguments = module.inspect_function_arguments
        if not getattr(inspect_arguments, "_mockserver_cached", False):
            module.inspect_function_arguments = _cached_inspection(inspect_arguments)


def _cached_inspection(inspect_arguments: Callable[..., Any]) -> Callable[..., Any]:
    cached = functools.lru_cache(maxsize=256)(inspect_arguments)

    @functools.wraps(inspect_arguments)
    def inspect_function_arguments(function: Callable[..., Any]) -> tuple[list[str], bool]:
        arguments, has_kwargs = cached(function)
        return list(arguments), has_kwargs

    inspect_function_arguments._mockserver_cached = True  # type: ignore[attr-defined]
    return inspect_function_arguments
