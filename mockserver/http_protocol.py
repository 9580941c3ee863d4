"""The HTTP server's own error answers, in the problem shape.

Uvicorn's httptools protocol (the fast one) answers a request it cannot parse with a plain-text 400
before the app sees it. httptools cannot parse a request target longer than 64 KiB, so a 100 KB
``search`` would get that plain-text answer. This protocol answers those cases as problem+json: a 414
when the request target was too long, a 400 otherwise.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mockserver.problems import PROBLEM_JSON, problem_bytes

# httptools keeps URL offsets in 16 bits: a longer target cannot be parsed.
PARSER_TARGET_LIMIT = 65535


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        target = len(getattr(self, "url", b"") or b"")
        if target > PARSER_TARGET_LIMIT:
            status, reason = 414, b"URI Too Long"
            detail = f"the request target is over {PARSER_TARGET_LIMIT} bytes; this server accepts much less"
        else:
            status, reason = 400, b"Bad Request"
            detail = "the request is not valid HTTP/1.1"
        body = problem_bytes(status, detail)
        head = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: " + PROBLEM_JSON.encode() + b"\r\n")
        head.append(b"content-length: " + str(len(body)).encode() + b"\r\n")
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()
