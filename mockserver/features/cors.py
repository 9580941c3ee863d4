"""CORS, so a front end served from another origin (a dev server on another port) can call the fake.

Starlette's :class:`~starlette.middleware.cors.CORSMiddleware`, configured for a mock:

- allowed origins: any ``http(s)://localhost``, ``127.0.0.1`` or ``[::1]`` origin, on any port,
  plus every ``--cors-origin`` given (exact origins such as ``https://app.example.test``, or ``*``);
- the methods the path has (a preflight for ``.../users/{userId}`` advertises ``DELETE, GET, HEAD, OPTIONS,
  PATCH``; the browser itself refuses another method) and any request header (``Authorization``,
  ``Prefer``, ``X-Mock-Session`` ...), so a preflight for a bearer-token ``PATCH`` succeeds; a preflight
  answer is cached for 10 minutes;
- the headers a front end needs to read are exposed (``WWW-Authenticate``, ``Retry-After``, ...);
- no credentials mode (the API takes a bearer token, not cookies), so no ``Allow-Credentials``;
- private network access preflights (Chrome, a page on a LAN address calling loopback) allowed.

It sits outside everything else, so preflights are answered before the 405 handling sees an
``OPTIONS``, and ``Access-Control-*`` headers are on every answer, errors included. A refused
preflight gets a 400 problem naming what was refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.core.problems import Problem
from mockserver.spec.routes import HTTP_METHODS, Route, RouteTable

LOOPBACK_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?"
EXPOSED_HEADERS = (
    "WWW-Authenticate",
    "Retry-After",
    "Preference-Applied",
    "Allow",
    "Content-Disposition",
    "X-Mock-Session",
)
METHODS = tuple(method.upper() for method in HTTP_METHODS if method != "trace")  # browsers never send TRACE
MAX_AGE_SECONDS = 600


class MockCORSMiddleware(CORSMiddleware):
    def __init__(self, app: ASGIApp, *, origins: Sequence[str] = (), routes: RouteTable | None = None):
        self.routes = routes  # a preflight for one of these paths advertises the methods that path has
        super().__init__(
            app,
            allow_origins=list(origins),
            allow_origin_regex=LOOPBACK_ORIGINS,
            allow_methods=METHODS,
            allow_headers=["*"],
            allow_credentials=False,
            allow_private_network=True,
            expose_headers=EXPOSED_HEADERS,
            max_age=MAX_AGE_SECONDS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not any(key == b"origin" for key, _ in scope["headers"]):
            # Not a browser's cross-origin request: nothing to allow, but the answer still varies by Origin.
            async def send_with_vary(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", ()), (b"vary", b"Origin")]}
                await send(message)

            await self.app(scope, receive, send_with_vary)
            return
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "access-control-request-method" in headers:
                route = self.routes.match(scope["path"]) if self.routes is not None else None
                answer = self.preflight_response(headers, route=route)
                await answer(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers, route: Route | None = None) -> Response | Problem:
        response = super().preflight_response(request_headers)
        if route is not None:
            # Never a 405 here: the browser reads the list and refuses another method itself (its console
            # names the method and the list); a client that sends it anyway gets the 405 with CORS headers.
            response.headers["Access-Control-Allow-Methods"] = ", ".join(route.allow)
        if response.status_code == 200:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        detail = (
            f"CORS preflight refused ({refused}): origin {request_headers['origin']!r}, "
            f"method {request_headers['access-control-request-method']!r}; allowed origins are localhost, "
            f"127.0.0.1 and [::1] on any port, plus those given with --cors-origin"
        )
        headers = {k: v for k, v in response.headers.items() if k.lower().startswith(("access-control-", "vary"))}
        return Problem.of(400, detail, headers)  # an ASGI app, as Starlette expects of a preflight answer


def describe(origins: Sequence[str]) -> str:
    """One line for the start-up banner."""
    extra = ", ".join(origins)
    return "localhost, 127.0.0.1 and [::1] on any port" + (f", and {extra}" if extra else "")
