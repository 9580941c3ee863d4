"""The raw ASGI pieces the layers in front of Connexion share: reading a request's headers and whole
body, and sending a whole answer. Nothing here knows about problems or the spec."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.types import Receive, Scope, Send


class BodyTooLarge(Exception):
    """The request body is over the limit (declared by ``Content-Length``, or counted as it arrived)."""

    def __init__(self, limit: int, declared: int | None = None):
        self.limit, self.declared = limit, declared
        if declared is not None:
            detail = f"the request body is {declared} bytes; the limit is {limit} bytes"
        else:
            detail = f"the request body is over the limit of {limit} bytes"
        super().__init__(detail)
        self.detail = detail


class ClientGone(Exception):
    """The client disconnected before it sent the whole body."""

    detail = "the client went away before sending the whole body"


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def read_body(scope: Scope, receive: Receive, limit: int | None = None) -> bytes:
    """The whole request body. With a ``limit``: :class:`BodyTooLarge` as soon as the declared
    ``Content-Length`` or the bytes received are over it, before more is read. :class:`ClientGone`
    when the client disconnects first."""
    if limit is not None:
        declared = header(scope, b"content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def encode_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def send_whole(send: Send, status: int, body: bytes = b"", *, content_type: str | None = None,
                     headers: Iterable[tuple[str, str]] = (), head: bool = False) -> None:
    """One complete answer: ``content-length``, ``content-type`` (when given), then ``headers``.
    ``head``: the headers of that answer without its body (a HEAD request)."""
    raw = [(b"content-length", str(len(body)).encode())]
    if content_type:
        raw.append((b"content-type", content_type.encode("latin-1")))
    raw += encode_headers(headers)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def call_observed(app, scope: Scope, receive: Receive, send: Send, done: Callable[[int], None], *,
                        before_last_body: bool = False) -> None:
    """Run ``app`` and call ``done(status)`` exactly once: when the answer's last body part is sent
    (just before it with ``before_last_body``, so whoever waits for the answer finds what ``done``
    recorded), or when the app ends without a whole answer (status 0 when none was started)."""
    status = 0
    finished = False

    def finish() -> None:
        nonlocal finished
        if not finished:
            finished = True
            done(status)

    async def observed_send(message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        last = message["type"] == "http.response.body" and not message.get("more_body", False)
        if last and before_last_body:
            finish()
        await send(message)
        if last:
            finish()

    try:
        await app(scope, receive, observed_send)
    finally:
        finish()
