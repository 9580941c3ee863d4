"""The HTTP server's own error answers, in the problem shape.

Uvicorn's httptools protocol (the fast one) answers a request it cannot parse with a plain-text 400
before the app sees it. httptools cannot parse a request target longer than 64 KiB, so a 100 KB
``search`` would get that plain-text answer. This protocol answers those cases as problem+json: a 414
when the request target was too long, a 400 otherwise.

httptools has no limit on the size of a request head, and joins a long header value piece by piece:
one client sending an endless header made the server hold (and copy, again and again) everything it
sent, slowing every other client. This protocol answers a request head over :data:`MAX_HEAD_BYTES`
with a 431 problem and closes the connection. (Smaller but still large header fields reach the app,
which answers them with a 431 too: see :class:`mockserver.server.middleware.RequestGuard`.)
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mockserver.core.problems import Problem

# httptools keeps URL offsets in 16 bits: a longer target cannot be parsed.
PARSER_TARGET_LIMIT = 65535
# The request line and header fields of one request, as received.
MAX_HEAD_BYTES = 1024 * 1024


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    _reading_head = True
    _head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                detail = f"the request line and header fields are over {MAX_HEAD_BYTES} bytes; this server accepts much less"
                self._send_problem(431, b"Request Header Fields Too Large", detail)
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        target = len(getattr(self, "url", b"") or b"")
        if target > PARSER_TARGET_LIMIT:
            status, reason = 414, b"URI Too Long"
            detail = f"the request target is over {PARSER_TARGET_LIMIT} bytes; this server accepts much less"
        else:
            status, reason = 400, b"Bad Request"
            detail = "the request is not valid HTTP/1.1"
        self._send_problem(status, reason, detail)

    def _send_problem(self, status: int, reason: bytes, detail: str) -> None:
        answer = Problem(status, detail)
        body = answer.body()
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        for name, value in [*self.server_state.default_headers, *answer.raw_headers(body)]:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()
