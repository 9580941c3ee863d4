"""The proxy as a pipe: whatever the client sends reaches the deployment, and whatever the deployment
answers reaches the client, unchanged but for the hop-by-hop fields; large bodies stream through
unvalidated (reported); a property test over arbitrary methods, query strings, headers and bodies."""

from __future__ import annotations

import hashlib
import json
import threading
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import JANE, user_url
from tests.proxy_support import comparable, proxied, raw

pytestmark = pytest.mark.slow  # servers on real sockets

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"}


class Deployment:
    """A plain ASGI server (not the fake): records each request, answers what the test set.

    ``GET /big?size=N`` streams N bytes of a fixed pattern in 64 KiB chunks, with no Content-Length."""

    def __init__(self):
        self.received: list[dict] = []
        self.answer: tuple[int, list[tuple[bytes, bytes]], bytes] = (200, [], b"")
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        with self.lock:
            self.received.append({"method": scope["method"], "raw_path": scope["raw_path"],
                                  "query": scope["query_string"], "headers": list(scope["headers"]), "body": body})
        if scope["path"] == "/big":
            size = int(scope["query_string"].decode().split("=", 1)[1])
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            for start in range(0, size, 65536):
                await send({"type": "http.response.body", "body": pattern(start, min(size, start + 65536)),
                            "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        status, headers, answer = self.answer
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


def pattern(start: int, end: int) -> bytes:
    return bytes((i * 7 + 3) % 251 for i in range(start, end))


def test_a_large_streamed_answer_arrives_whole_and_is_reported_not_validated():
    size = 5 * 1024 * 1024
    deployment = Deployment()
    with proxied(deployment, max_body_bytes=64 * 1024, allow_writes=True) as setup:
        with httpx.stream("GET", f"{setup.url}/big?size={size}") as response:
            assert response.headers.get("transfer-encoding") == "chunked" and "content-length" not in response.headers
            digest, total = hashlib.sha256(), 0
            for chunk in response.iter_raw():
                digest.update(chunk)
                total += len(chunk)
        assert total == size and digest.hexdigest() == hashlib.sha256(pattern(0, size)).hexdigest()
        assert setup.violations() == []  # a path outside the contract is not checked


def test_bodies_over_max_body_bytes_are_forwarded_whole_and_reported_as_not_validated():
    deployment = Deployment()
    big = json.dumps({"jobTitle": "x" * 5000}).encode()
    deployment.answer = (200, [(b"content-type", b"application/json")], b'{"not": "a user"}' + b" " * 5000)
    with proxied(deployment, max_body_bytes=1000, allow_writes=True) as setup:
        status, headers, body = raw(setup.front.port, "PATCH", user_url(JANE),
                                    [("Authorization", "Bearer t0ken-x"), ("Content-Type", "application/json")], big)
        assert status == 200 and body == deployment.answer[2]
        assert deployment.received[-1]["body"] == big
        assert setup.violations() == []  # neither body was validated, so neither is called wrong
        notes = [line for line in setup.lines if line.startswith("not validated: body over 1000 bytes")]
        assert len(notes) == 2 and "request of PATCH" in notes[0] and "answer to PATCH" in notes[1]
        assert setup.proxy.log.counters["not_validated"] == 2
        # Under the limit, the same answer is validated and wrong.
        small = json.dumps({"jobTitle": "x"}).encode()
        deployment.answer = (200, [(b"content-type", b"application/json")], b'{"not": "a user"}')
        raw(setup.front.port, "PATCH", user_url(JANE),
            [("Authorization", "Bearer t0ken-x"), ("Content-Type", "application/json")], small)
        assert setup.checks() == {("update_user_v1", "response_schema_conformance")}


def test_a_chunked_request_body_reaches_the_deployment_whole():
    deployment = Deployment()
    deployment.answer = (204, [], b"")
    payload = [b"a" * 70000, b"b" * 3, b"c" * 200000]
    with proxied(deployment, max_body_bytes=100000, allow_writes=True) as setup:
        response = httpx.post(f"{setup.url}/upload", content=iter(payload))
        assert response.status_code == 204
    assert deployment.received[-1]["body"] == b"".join(payload)


def test_unusual_and_repeated_headers_and_error_answers_pass_through_unchanged():
    deployment = Deployment()
    headers = [(b"content-type", b"application/problem+json"), (b"set-cookie", b"a=1; Path=/"),
               (b"set-cookie", b"b=2; HttpOnly"), (b"x-weird", b"caf\xe9  spaced \x7e"), (b"www-authenticate", b'Bearer realm="x"'),
               (b"cache-control", b"no-store"), (b"x-empty", b""), (b"keep-alive", b"timeout=5"),
               (b"connection", b"x-hop"), (b"x-hop", b"dropped: named by Connection")]
    deployment.answer = (418, headers, b'{"type": "about:blank", "title": "teapot", "status": 418, "detail": "d"}')
    with proxied(deployment) as setup:
        status, got, body = raw(setup.front.port, "GET", "/anything?x=1", [("X-Trace", "1"), ("Connection", "close, x-drop"),
                                                                            ("X-Drop", "hop"), ("Keep-Alive", "1")])
        direct = raw(setup.backend.port, "GET", "/anything?x=1", [("X-Trace", "1")])
    assert status == 418 and body == deployment.answer[2]
    expected = [(name.decode(), value.decode("latin-1")) for name, value in headers
                if name not in (b"keep-alive", b"connection", b"x-hop")]
    assert [h for h in comparable(got) if h[0] not in ("server", "content-length")] == expected
    assert comparable(got) == [h for h in comparable(direct[1]) if h[0] not in ("keep-alive", "x-hop")]
    sent = dict(deployment.received[-2]["headers"])
    assert b"x-drop" not in sent and b"keep-alive" not in sent and sent[b"x-trace"] == b"1"
    assert sent[b"host"] == setup.backend.url.split("//")[1].encode()


def test_head_and_options_pass_through():
    deployment = Deployment()
    deployment.answer = (200, [(b"allow", b"GET, PATCH"), (b"x-a", b"1")], b"")
    with proxied(deployment) as setup:
        for method in ("HEAD", "OPTIONS"):
            status, got, body = raw(setup.front.port, method, "/x")
            assert (status, body) == (200, b"") and ("allow", "GET, PATCH") in got and ("x-a", "1") in got
            assert deployment.received[-1]["method"] == method


# -- the property ------------------------------------------------------------------------------

TOKEN = st.text("abcdefghijklmnopqrstuvwxyz0123456789-!#$%&'*+.^_`|~", min_size=1, max_size=20)
VALUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"),
                min_size=0, max_size=40).map(lambda s: s.replace("\x85", "")) | st.just("a b  c")
RESERVED = {"host", "content-length", "transfer-encoding", "expect", "date", "server", *HOP_BY_HOP}
HEADERS = st.lists(st.tuples(TOKEN.map(lambda n: "x-" + n), VALUE), max_size=6)
STATUS = st.sampled_from([200, 201, 202, 301, 400, 401, 404, 409, 418, 422, 500, 503, 599])
QUERY = st.text(max_size=40).map(lambda s: quote(s, safe="=&/?:@!$'()*+,;"))
METHOD = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"])


@pytest.fixture(scope="module")
def pipe():
    deployment = Deployment()
    with proxied(deployment, max_body_bytes=2048, allow_writes=True) as setup, httpx.Client(base_url=setup.url) as client:
        yield deployment, client


@settings(derandomize=True, database=None, deadline=None, max_examples=60, suppress_health_check=list(HealthCheck))
@given(method=METHOD, query=QUERY, request_headers=HEADERS, body=st.binary(max_size=5000), status=STATUS,
       answer_headers=HEADERS, answer=st.binary(max_size=5000))
def test_arbitrary_requests_and_answers_pass_through_unchanged(pipe, method, query, request_headers, body, status,
                                                               answer_headers, answer):
    deployment, client = pipe
    deployment.answer = (status, [(n.encode(), v.encode("latin-1")) for n, v in answer_headers], answer)
    request = client.build_request(method, "/echo/p%20q", content=body,
                                   headers=[(n.encode(), v.encode("latin-1")) for n, v in request_headers])
    request.url = request.url.copy_with(query=query.encode() or None)
    response = client.send(request)
    got = deployment.received[-1]
    sent = [(n.lower(), v) for n, v in request.headers.raw if n.lower() not in {b"host", *[h.encode() for h in HOP_BY_HOP]}]
    assert (got["method"], got["raw_path"], got["query"], got["body"]) == (method, b"/echo/p%20q", query.encode(), body)
    assert [h for h in got["headers"] if h[0] != b"host"] == sent
    assert response.status_code == status and response.content == answer
    passed = [(n.lower(), v) for n, v in response.headers.raw if n.lower() not in (b"date", b"server")]
    assert passed == [*deployment.answer[1], (b"content-length", str(len(answer)).encode())]


def test_a_compressed_answer_passes_through_compressed_and_is_checked_decompressed():
    import gzip

    deployment = Deployment()
    wrong = gzip.compress(b'{"_id": "6500000000000000000001a1"}')
    deployment.answer = (200, [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")], wrong)
    with proxied(deployment) as setup:
        status, headers, body = raw(setup.front.port, "GET", user_url(JANE), [("Authorization", "Bearer t0ken-x")])
        assert status == 200 and body == wrong and ("content-encoding", "gzip") in headers
        assert setup.checks() == {("get_user", "response_schema_conformance")}
        assert "missing required field 'createdAt'" in setup.violations()[0]["detail"]
        deployment.answer = (200, [(b"content-type", b"application/json"), (b"content-encoding", b"br")], b"\x00\x01")
        assert raw(setup.front.port, "GET", user_url(JANE), [("Authorization", "Bearer t0ken-x")])[2] == b"\x00\x01"
        assert any(line.startswith("not validated: Content-Encoding br") for line in setup.lines)
        assert len(setup.violations()) == 1


class BreaksOff(Deployment):
    """Promises 100 bytes, sends 10, and closes the connection."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b'{"_id": "6', "more_body": True})
        raise RuntimeError("the deployment fails mid-answer (expected in this test)")


def test_an_answer_that_breaks_off_breaks_off_for_the_client_too_and_is_reported():
    with proxied(BreaksOff()) as setup:
        with pytest.raises(httpx.HTTPError):
            httpx.get(setup.url + user_url(JANE), headers={"Authorization": "Bearer t0ken-x"})
        assert any("broke off" in line for line in setup.lines)
        assert setup.proxy.log.counters["upstream_errors"] == 1 and setup.violations() == []
