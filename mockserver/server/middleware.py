"""ASGI middleware that stands in front of Connexion: what no single operation owns.

- :class:`RequestGuard` answers what the routes cannot: a request target that is too long (414),
  a method the path does not have (405 with a correct ``Allow``), a plain ``OPTIONS`` (204 with
  ``Allow``), and checks a request body before anything parses it: size (413), a body without a
  ``Content-Type`` (415). Paths are matched literal segments first, so ``PATCH .../users/lookup``
  is a 405, not a 400 about the ``userId`` pattern. Header fields over a size limit (a 100 KB
  ``Authorization``, say) are a 431 before anything reads them.
- :class:`AttachRuntime` puts the server's runtime (store, options) into the ASGI scope, where the
  security function and the handlers find it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.core.asgi import BodyTooLarge, ClientGone, header, read_body
from mockserver.core.problems import send_problem
from mockserver.server.runtime import BODY_KEY, SCOPE_KEY, Runtime
from mockserver.spec.routes import BODY_METHODS, RouteTable, answer_method

MAX_HEADER_BYTES = 64 * 1024  # header fields (names and values) of one request; real tokens are far smaller
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]*(;|\Z)")


@dataclass
class RequestGuard:
    app: ASGIApp
    routes: RouteTable
    max_body_bytes: int
    max_target_bytes: int
    max_header_bytes: int = MAX_HEADER_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
        if target > self.max_target_bytes:
            await send_problem(
                send, 414, f"the request target is {target} bytes; this server accepts at most {self.max_target_bytes}"
            )
            return
        header_bytes = sum(len(name) + len(value) for name, value in scope["headers"])
        if header_bytes > self.max_header_bytes:
            await send_problem(
                send, 431, f"the request header fields are {header_bytes} bytes; this server accepts at most {self.max_header_bytes}"
            )
            return
        if not (scope.get("query_string", b"").isascii() and (scope.get("raw_path") or b"").isascii()):
            # RFC 3986: a request target is ASCII; anything else is percent-encoded (%C3%A9).
            await send_problem(send, 400, "the request target has a byte that is not ASCII; percent-encode it (such as %C3%A9 for é)")
            return
        if _CONTROL_CHARACTER.search(scope["path"]):
            # No id or name has one; and routers disagree on them (a trailing newline matches one
            # router's pattern and not the other's), so answer before any router sees the path.
            await send_problem(send, 400, "the request path contains a control character (such as %00 or %0A)")
            return
        content_type = header(scope, b"content-type")
        if content_type is not None and not _MEDIA_TYPE.match(content_type):
            await send_problem(send, 415, "the Content-Type is not a media type (type/subtype); send Content-Type: application/json")
            return
        method = scope["method"]
        route = self.routes.route_of(scope)  # kept in the scope: matched once per request
        if route is not None and await answer_method(route, method, send):
            return
        if method in BODY_METHODS:
            await self._with_checked_body(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _with_checked_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(scope, receive, self.max_body_bytes)
        except BodyTooLarge as err:
            await send_problem(send, 413, err.detail)
            return
        except ClientGone:
            return
        if body and header(scope, b"content-type") is None:
            await send_problem(send, 415, "the request has a body but no Content-Type; send Content-Type: application/json")
            return

        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-length", b"transfer-encoding")]
        headers.append((b"content-length", str(len(body)).encode()))
        scope = {**scope, "headers": headers, BODY_KEY: body}  # read once: the layers below take it from here
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class AttachRuntime:
    def __init__(self, app: ASGIApp, *, runtime: Runtime):
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SCOPE_KEY] = self.runtime
        await self.app(scope, receive, send)
