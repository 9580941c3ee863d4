"""The forwarding half of the proxy: an ASGI app that sends each request to the deployment and its
answer back, streaming both ways, and hands both to :mod:`mockserver.proxy.contract` on the side.

What is changed on the way, and nothing else (RFC 9110 section 7.6.1): the hop-by-hop fields
(``Connection`` and the fields it names, ``Proxy-Connection``, ``Keep-Alive``, ``TE``,
``Transfer-Encoding``, ``Upgrade``) are dropped, ``Host`` names the deployment, and the framing is
the proxy's own connection's (a chunked body may arrive with a ``Content-Length``, or the other way
round). Status, every other header (repeated ones too, in order) and the body bytes (compressed
ones stay compressed) are the deployment's.

Memory per request is bounded: a body up to ``max_body_bytes`` is kept for validation while it is
forwarded; a larger one is forwarded as it arrives and not validated (reported, not a violation).
The answer's last chunk is held back until the answer is checked, so a client that has its whole
answer can already read the violations it caused from the admin API.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
from starlette.types import Receive, Scope, Send

from mockserver.core.problems import send_problem
from mockserver.features.chaos import NOTES_KEY
from mockserver.proxy.contract import Contract, Finding, Operation
from mockserver.proxy.violations import Exchange, ViolationLog
from mockserver.remote.safety import Policy, Target, prove_target
from mockserver.remote.tls import certificate_problem
from mockserver.spec.routes import SAFE_METHODS

REPROVE_SECONDS = 1.0
HOP_BY_HOP = frozenset({b"connection", b"proxy-connection", b"keep-alive", b"te", b"transfer-encoding", b"upgrade"})


def end_to_end(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` without the hop-by-hop fields (RFC 9110 section 7.6.1), order and repeats kept."""
    dropped = set(HOP_BY_HOP)
    for name, value in headers:
        if name.lower() == b"connection":
            dropped.update(option.strip().lower() for option in value.split(b",") if option.strip())
    return [(name, value) for name, value in headers if name.lower() not in dropped]


def header_map(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names to values, repeated fields joined with ``, `` (for checking, not forwarding)."""
    out: dict[str, str] = {}
    for name, value in headers:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


@dataclass
class Forwarder:
    target: Target
    client: httpx.AsyncClient
    contract: Contract
    log: ViolationLog
    policy: Policy
    max_body_bytes: int
    # Called once the server has started (its signal handlers installed, its socket listening).
    on_startup: list[Callable[[], None]] = field(default_factory=list)
    _proved_at: float = field(default=0.0, repr=False)  # when the target last proved it is the fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets: the contract has none
        self.log.count("requests")
        notes: list[str] = scope.setdefault(NOTES_KEY, [])
        method, path = scope["method"], scope["path"]
        raw_query = scope.get("query_string", b"")
        request_headers = [(k, v) for k, v in end_to_end(list(scope.get("headers", ()))) if k.lower() != b"host"]
        headers = header_map(request_headers)
        reason = await self._refusal(method, path)
        if reason is not None:
            self.log.count("refused")
            notes.append("proxy: refused, not forwarded")
            self.log.note(f"refused {method} {path}: not forwarded to {self.target.base} ({reason})")
            await send_problem(send, 403, f"the proxy did not forward {method} {path} to {self.target.base}: "
                                          f"{reason}; start it with --allow-writes to forward writes")
            return
        buffered, rest = await self._read_body(receive, headers.get("content-length"))
        if buffered is None and rest is None:
            return  # the client went away
        exchange = Exchange(method, self.target.base, path, raw_query.decode("latin-1"), headers,
                            buffered if rest is None else None,
                            len(buffered) if rest is None else _declared(headers.get("content-length")))
        operation, path_params, documented = self.contract.match(method, path)
        findings: list[Finding] = []
        if operation is not None:
            findings = self.contract.check_request(operation, scope, path_params, headers,
                                                   buffered if rest is None else None)
            if rest is not None:
                self._not_validated(notes, exchange, f"request of {method} {path}")
        elif not documented:
            self.log.count("outside_contract")
        content: bytes | AsyncIterator[bytes] = buffered if rest is None else rest
        raw_path = (scope.get("raw_path") or path.encode("utf-8")).split(b"?", 1)[0]
        url = httpx.URL(self.target.origin).copy_with(raw_path=self.target.base_path.encode("utf-8") + raw_path)
        if raw_query:
            url = url.copy_with(query=raw_query)
        try:
            response = await self.client.send(httpx.Request(method, url, headers=request_headers, content=content),
                                              stream=True)
        except httpx.HTTPError as error:
            await self._unreachable(send, notes, exchange, operation, findings, error)
            return
        try:
            await self._answer(send, notes, exchange, operation, documented, findings, response)
        finally:
            await response.aclose()

    async def _refusal(self, method: str, path: str) -> str | None:
        """Why ``method path`` is not forwarded, or None. A proxy runs for hours: before a write to
        the fake it proved to be at start-up, the target proves it again (at most once every
        ``REPROVE_SECONDS``), so a server that took the fake's port since never gets it."""
        reason = self.policy.refusal(method, self.target.base + path)
        if reason is not None or not self.policy.proven or method.upper() in SAFE_METHODS:
            return reason
        if time.monotonic() - self._proved_at < REPROVE_SECONDS:
            return None
        proof = await asyncio.to_thread(prove_target, self.target)
        if not proof.ok:
            self._proved_at = 0.0
            return (f"{self.target.origin} no longer proves it is this machine's fake"
                    + (f" ({proof.reason})" if proof.reason else ""))
        self._proved_at = time.monotonic()
        return None

    async def _read_body(self, receive: Receive, declared: str | None):
        """(the whole body, None) when it fits ``max_body_bytes``; else (what was read, an iterator over
        all of it); (None, None) when the client went away."""
        chunks: list[bytes] = []
        size, more = 0, True
        limit = self.max_body_bytes
        declared_size = _declared(declared)
        if declared_size is None or declared_size <= limit:  # else: too large to keep, stream it from the start
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None, None
                chunk = message.get("body", b"")
                chunks.append(chunk)
                size += len(chunk)
                more = message.get("more_body", False)
                if size > limit and more:
                    break
            if not more and size <= limit:
                return b"".join(chunks), None

        async def everything() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk
            remaining = more
            while remaining:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                yield message.get("body", b"")
                remaining = message.get("more_body", False)

        return b"", everything()

    async def _answer(self, send: Send, notes: list[str], exchange: Exchange,
                      operation: Operation | None, documented: list[str], findings: list[Finding],
                      response: httpx.Response) -> None:
        self.log.count("forwarded")
        status = response.status_code
        raw = self._located(end_to_end(list(response.headers.raw)))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        kept: list[bytes] | None = []
        size = 0
        held: bytes | None = None
        try:
            async for chunk in response.aiter_raw():
                if not chunk:
                    continue
                if kept is not None:
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        kept = None
                    else:
                        kept.append(chunk)
                if held is not None:
                    await send({"type": "http.response.body", "body": held, "more_body": True})
                held = chunk
        except httpx.HTTPError as error:
            # The deployment's answer broke off: so does the client's (the connection is closed unfinished).
            self.log.count("upstream_errors")
            self._report(notes, exchange, operation, findings, status)
            notes.append("proxy: the deployment's answer broke off")
            self.log.note(f"the answer of {self.target.origin} to {exchange.method} {exchange.path} broke off: "
                          f"{type(error).__name__}", exchange)
            return
        headers = header_map(raw)
        if status == 429:
            # The deployment's (or its gateway's) rate limit: passed on to the client, never a finding
            # (the contract documents no 429; its 503 with Retry-After is checked like any answer).
            self.log.count("rate_limited")
            notes.append("proxy: the deployment's rate limit, not checked")
        elif operation is not None:
            body = None
            if kept is None:
                self._not_validated(notes, exchange, f"answer to {exchange.method} {exchange.path}")
            else:
                body, why = decoded_for_check(b"".join(kept), headers.get("content-encoding"), self.max_body_bytes)
                if why:
                    self._not_validated(notes, exchange, f"answer to {exchange.method} {exchange.path}", why)
            findings = findings + self.contract.check_response(operation, exchange.method, status, headers, body)
        elif documented and exchange.method != "OPTIONS":
            findings = findings + self.contract.check_unsupported(exchange.method, exchange.path, documented, status)
        self._report(notes, exchange, operation, findings, status)
        await send({"type": "http.response.body", "body": held or b"", "more_body": False})

    async def _unreachable(self, send: Send, notes: list[str], exchange: Exchange, operation: Operation | None,
                           findings: list[Finding], error: httpx.HTTPError) -> None:
        self.log.count("upstream_errors")
        self._report(notes, exchange, operation, findings, None)
        timeout = isinstance(error, httpx.TimeoutException)
        why = certificate_problem(error) or (f"{type(error).__name__}" + (f": {error}" if str(error) else ""))
        notes.append("proxy: no answer from the deployment")
        self.log.note(f"no answer from {self.target.origin} to {exchange.method} {exchange.path}: {why}", exchange)
        await send_problem(send, 504 if timeout else 502,
                           f"the proxy got no answer from {self.target.origin}: {why}")

    def _located(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """A ``Location`` under the deployment's base path, as the client of the proxy reaches it: the
        spec's path (the proxy serves the spec's paths at its root)."""
        base = self.target.base_path.encode("utf-8")
        if not base:
            return headers
        origin = self.target.origin.encode("utf-8")
        out = []
        for name, value in headers:
            if name.lower() in (b"location", b"content-location"):
                path = value[len(origin):] if value.startswith(origin + b"/") else value
                if path == base or path.startswith(base + b"/") or path.startswith(base + b"?"):
                    value = path[len(base):] or b"/"
            out.append((name, value))
        return out

    def _report(self, notes: list[str], exchange: Exchange, operation: Operation | None, findings: list[Finding],
                status: int | None) -> None:
        operation_id = operation.operation_id if operation is not None else None
        for finding in findings:
            notes.append(f"violation {finding.check}")
            self.log.violation(operation_id, finding.check, finding.detail, status, exchange)

    def _not_validated(self, notes: list[str], exchange: Exchange, what: str, why: str | None = None) -> None:
        self.log.count("not_validated")
        kind = why or f"body over {self.max_body_bytes} bytes"
        notes.append(f"not validated: {kind}")
        self.log.note(f"not validated: {kind} ({what})", exchange)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for hook in self.on_startup:
                    hook()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _declared(value: str | None) -> int | None:
    if value is not None and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def decoded_for_check(body: bytes, encoding: str | None, limit: int) -> tuple[bytes | None, str | None]:
    """(the body as the schema sees it, None), or (None, why it cannot be checked)."""
    codings = [c.strip().lower() for c in (encoding or "").split(",") if c.strip() and c.strip().lower() != "identity"]
    for coding in reversed(codings):
        if coding not in ("gzip", "x-gzip", "deflate"):
            return None, f"Content-Encoding {coding}"
        wbits = 16 + zlib.MAX_WBITS if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        try:
            inflater = zlib.decompressobj(wbits)
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            if coding != "deflate":
                return None, f"Content-Encoding {coding}: not {coding} data"
            try:  # "deflate" is sometimes sent without the zlib wrapper
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                out = inflater.decompress(body, limit + 1)
            except zlib.error:
                return None, "Content-Encoding deflate: not deflate data"
        if len(out) > limit:
            return None, f"body over {limit} bytes once decompressed"
        body = out
    return body, None

