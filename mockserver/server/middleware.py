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
        if route is not None and (problem := authorization_problem(header(scope, b"authorization"))):
            await send_problem(send, 401, problem, [("WWW-Authenticate", "Bearer")])
            return
        if route is not None and len(scope["path"]) > 1 and scope["path"].endswith("/"):
            # A trailing slash is the same operation (docs/choices.md): answered here, never redirected.
            scope = _without_trailing_slash(scope)
        if method in BODY_METHODS:
            accepted = _accepted_media_types(route.operations.get(method)) if route is not None else []
            await self._with_checked_body(scope, receive, send, accepted)
            return
        await self.app(scope, receive, send)

    async def _with_checked_body(self, scope: Scope, receive: Receive, send: Send, accepted: list[str]) -> None:
        try:
            body = await read_body(scope, receive, self.max_body_bytes)
        except BodyTooLarge as err:
            await send_problem(send, 413, err.detail)
            return
        except ClientGone:
            return
        content_type = header(scope, b"content-type")
        media = content_type.split(";")[0].strip().lower() if content_type is not None else None
        if media is not None and accepted and media not in accepted:
            # Read first, so the journal shows what was sent; then said in words (not a Python list).
            await send_problem(send, 415, f"the body is sent as {media[:80]}; this operation takes "
                                          f"{' or '.join(accepted)}: send Content-Type: {accepted[0]}")
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


def _accepted_media_types(operation) -> list[str]:
    """The media types an operation's request body may have (the spec's ``requestBody.content``)."""
    content = ((operation or {}).get("requestBody") or {}).get("content") or {}
    return [str(media).lower() for media in content]


def authorization_problem(value: str | None) -> str | None:
    """Why an ``Authorization`` value is not a bearer token at all, in words (never echoing the value:
    the journal keeps answers)."""
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if not token.strip():
        if scheme.lower() == "bearer":
            return "the Authorization header says Bearer but has no token: send Authorization: Bearer <token>"
        return ("the Authorization header has no scheme: send the token as Authorization: Bearer <token> "
                "(with the word Bearer and a space before it)")
    if scheme.lower() != "bearer":
        return (f"the Authorization header uses the {scheme[:20]!r} scheme; this API takes a bearer token: "
                "send Authorization: Bearer <token>")
    return None


def _without_trailing_slash(scope: Scope) -> Scope:
    path = scope["path"].rstrip("/") or "/"
    raw = scope.get("raw_path")
    return {**scope, "path": path, **({"raw_path": raw.rstrip(b"/") or b"/"} if raw else {})}


def host_name(value: str) -> str:
    """The name of a ``Host`` header value: no port, no brackets, lower case, no trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def host_allowed(value: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a ``Host`` is one this server answers: an IP address, ``localhost`` (and ``*.localhost``), or a
    name of ``allowed`` (``.example.test`` allows its subdomains too). A web page can only reach the server
    through a browser under another name by DNS rebinding, which these refuse (as Vite's allowedHosts does)."""
    if value is None:
        return True  # HTTP/1.0 without Host: not a browser
    import ipaddress

    name = host_name(value)
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    if name == "localhost" or name.endswith(".localhost"):
        return True
    for entry in allowed:
        entry = entry.strip().lower().rstrip(".")
        if name == entry.lstrip(".") or (entry.startswith(".") and name.endswith(entry)):
            return True
    return False


@dataclass
class HostCheck:
    """403 for a ``Host`` that is not a loopback name, an IP address or a name given with ``--allowed-host``."""

    app: ASGIApp
    allowed: tuple[str, ...] = ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            value = header(scope, b"host")
            if not host_allowed(value, self.allowed):
                name = host_name(value)[:80]
                await send_problem(send, 403, f"Host {name!r} is not allowed: this server answers localhost and IP "
                                              f"addresses only; to use this name, start it with --allowed-host {name} "
                                              "(a guard against DNS rebinding)")
                return
        await self.app(scope, receive, send)


@dataclass
class ServedSpecServers:
    """``GET /openapi.json`` (what Swagger UI reads) with the contract's own ``servers`` block: Connexion
    rewrites ``url: /`` to an empty string, which Swagger UI shows as a blank Servers dropdown."""

    app: ASGIApp
    servers: list
    path: str = "/openapi.json"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            if start.get("status") == 200 and scope["method"] == "GET":
                import json

                document = json.loads(body)
                document["servers"] = self.servers
                body = json.dumps(document).encode()
            headers = [(k, v) for k, v in start.get("headers", ()) if k != b"content-length"]
            if scope["method"] == "GET":
                headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewrite)


class AttachRuntime:
    def __init__(self, app: ASGIApp, *, runtime: Runtime):
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SCOPE_KEY] = self.runtime
        await self.app(scope, receive, send)
