"""Bad input the other test files do not already cover: always a clear 4xx problem, never a 500,
never a hang, and the server keeps serving everyone else.

Covered elsewhere (not repeated here): invalid UTF-8, 413 (also chunked), deep nesting, a 10,000-digit
number, missing and wrong Content-Type, duplicate keys, NUL and %2F in paths, 405 with Allow
(tests/test_api_errors.py); a 100 KB search over a real socket, malformed and invalid fixture files
(tests/test_cli.py, tests/test_fixtures.py).
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mockserver.fixtures.document import MAX_SCHEMA_PROBLEMS, FixtureError, FixtureLoader
from mockserver.spec import schemas
from tests.conftest import ACME, ADMIN, INTEGRATION, JANE, user_url
from tests.support import MOCKSERVER, PROBLEM, Server, assert_problem, parse_response, raw_request

# -- the request head ------------------------------------------------------------------------


class TestHugeHeaders:
    def test_a_100_kb_authorization_header_is_a_431(self, client):
        response = client.get(user_url(JANE), headers={"Authorization": "Bearer " + "a" * 100_000})
        assert_problem(response, 431, "header fields")

    def test_many_header_fields_add_up(self, client):
        headers = {**ADMIN, **{f"X-Pad-{i}": "v" * 1000 for i in range(80)}}
        assert_problem(client.get(user_url(JANE), headers=headers), 431)

    def test_a_large_but_plausible_token_is_just_unknown(self, client):
        """An 8 KB JWT-sized token is well under the limit: the answer is about the token."""
        response = client.get(user_url(JANE), headers={"Authorization": "Bearer " + "a" * 8000})
        assert_problem(response, 401, "not one this server knows")

    def test_431_comes_before_the_token_and_the_method_checks(self, client):
        big = {"Authorization": "Bearer " + "a" * 100_000}
        assert_problem(client.post(user_url(JANE), headers=big), 431)
        assert_problem(client.get("/nowhere", headers=big), 431)


@pytest.fixture(scope="module")
def live():
    """One real server for the socket-level tests of this module."""
    server = Server()
    yield server
    server.stop()


def _users_target() -> str:
    return f"/api/v1/customers/{ACME}/users?{INTEGRATION}"


def _get_ok(port: int, path: str = "", token: str = "acme-admin-token") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path or user_url(JANE), headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.mark.slow
class TestHugeHeadersOnARealSocket:
    def test_100_kb_authorization_is_a_431_problem(self, live):
        raw = raw_request(live.port, (
            f"GET {user_url(JANE)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {'a' * 100_000}\r\n"
            "Connection: close\r\n\r\n").encode())
        status, headers, body = parse_response(raw)
        assert status == 431 and headers["content-type"] == PROBLEM
        assert json.loads(body)["status"] == 431

    def test_a_head_beyond_what_the_parser_holds_is_a_431_and_memory_stays_flat(self, live):
        """Header bytes the HTTP parser would otherwise buffer without limit (and copy again and
        again): the connection is answered with a 431 problem and closed at 1 MiB."""
        before = live.rss_kib()
        for _ in range(3):
            raw = raw_request(live.port, (
                f"GET {user_url(JANE)} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ").encode() + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n")
            status, headers, body = parse_response(raw)
            assert status == 431 and headers["content-type"] == PROBLEM, raw[:300]
            assert json.loads(body)["detail"].startswith("the request line and header fields are over")
        assert live.rss_kib() - before < 64 * 1024
        assert _get_ok(live.port) == 200

    def test_garbage_instead_of_http_is_a_400_problem(self, live):
        status, headers, body = parse_response(raw_request(live.port, b"HELLO\x00WORLD\r\n\r\n"))
        assert status == 400 and headers["content-type"] == PROBLEM
        assert json.loads(body)["status"] == 400


# -- slow clients ----------------------------------------------------------------------------


@pytest.mark.slow
class TestSlowClients:
    def test_slow_heads_and_slow_bodies_do_not_hold_up_other_clients(self, live):
        """Slow-loris: 16 clients dribble their request head and 16 their body, a few bytes every
        round; between rounds other clients are served at once. Then the slow ones finish and get
        their proper answers."""
        body = json.dumps({"nickname": "slowly"}).encode()
        heads, bodies = [], []
        for _ in range(16):
            sock = socket.create_connection(("127.0.0.1", live.port), timeout=10)
            sock.sendall(f"GET {user_url(JANE)} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
            heads.append(sock)
        for _ in range(16):
            sock = socket.create_connection(("127.0.0.1", live.port), timeout=10)
            sock.sendall((
                f"PATCH {user_url(JANE)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer acme-admin-token\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body[:1])
            bodies.append(sock)
        try:
            for step in range(1, 6):
                for sock in heads:
                    sock.sendall(f"X-Step-{step}: {step}\r\n".encode())
                for sock in bodies:
                    sock.sendall(body[step:step + 1])
                started = time.monotonic()
                assert [_get_ok(live.port) for _ in range(10)] == [200] * 10
                assert time.monotonic() - started < 30  # liveness only: they were answered at all
                time.sleep(0.1)
            for sock in heads:
                sock.sendall(b"Authorization: Bearer acme-admin-token\r\nConnection: close\r\n\r\n")
            for sock in bodies:
                sock.sendall(body[6:])
            for sock in heads:
                status, _, answer = parse_response(_read_response(sock))
                assert status == 200 and json.loads(answer)["_id"] == JANE
            for sock in bodies:
                status, _, answer = parse_response(_read_response(sock))
                assert status == 200 and json.loads(answer)["nickname"] == "slowly"
        finally:
            for sock in heads + bodies:
                sock.close()

    def test_a_client_that_stops_mid_body_does_not_hold_up_others(self, live):
        sock = socket.create_connection(("127.0.0.1", live.port), timeout=10)
        try:
            sock.sendall((
                f"PATCH {user_url(JANE)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer acme-admin-token\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"nick").encode())
            assert [_get_ok(live.port) for _ in range(5)] == [200] * 5
        finally:
            sock.close()
        assert _get_ok(live.port) == 200


def _read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk
    _, headers, body = parse_response(received)
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
        received += chunk
    return received


# -- HEAD and OPTIONS on every path ----------------------------------------------------------

SPEC = schemas.load_spec()
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _every_path() -> list[tuple[str, str, tuple[str, ...]]]:
    """(template, concrete path, allowed methods) for every path of the spec, also with a slash."""
    found = []
    for template, item in SPEC["paths"].items():
        allowed = {m.upper() for m in item if m in METHODS} | {"OPTIONS"}
        if "GET" in allowed:
            allowed.add("HEAD")
        concrete = template.replace("{customerId}", ACME).replace("{userId}", JANE)
        for path in (concrete, concrete + "/"):
            found.append((template, path, tuple(sorted(allowed))))
    return found


EVERY_PATH = _every_path()
TOKENS = [None, "acme-admin-token", "jane-token", "maria-token", "birch-admin-token", "no-such-token"]


def _with_query(template: str, path: str) -> str:
    return f"{path}?{INTEGRATION}" if template.endswith("/users") else path


@pytest.mark.parametrize("template,path,allowed", EVERY_PATH, ids=[p for _, p, _ in EVERY_PATH])
def test_options_on_every_path(client, template, path, allowed):
    for headers in ({}, ADMIN, {"Authorization": "Bearer no-such-token"}):
        response = client.options(path, headers=headers)
        assert response.status_code == 204, response.text
        assert response.headers["allow"] == ", ".join(allowed)
        assert response.content == b""


@pytest.mark.parametrize("template,path,allowed", EVERY_PATH, ids=[p for _, p, _ in EVERY_PATH])
@pytest.mark.parametrize("token", TOKENS)
def test_head_on_every_path_is_get_without_a_body(client, template, path, allowed, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    target = _with_query(template, path)
    head = client.head(target, headers=headers)
    assert head.content == b""
    if "GET" not in allowed:
        assert head.status_code == 405 and head.headers["allow"] == ", ".join(allowed)
        return
    get = client.get(target, headers=headers)
    assert head.status_code == get.status_code, (target, token, get.text)
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.status_code < 500


@pytest.mark.parametrize("path", ["/nowhere", "/api/v1/customers", f"/api/v1/customers/{ACME}/users/{JANE}/more", "/"])
def test_head_and_options_on_unknown_paths(client, path):
    head = client.head(path, headers=ADMIN)
    assert head.status_code == 404 and head.content == b""
    assert_problem(client.options(path, headers=ADMIN), 404)


@pytest.mark.slow
def test_head_keeps_the_connection_usable(live):
    """A HEAD answer must not carry a body, or the next answer on the same connection is garbage."""
    connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    try:
        for method, target in [("HEAD", user_url(JANE)), ("GET", user_url(JANE)), ("HEAD", _users_target()),
                               ("OPTIONS", user_url(JANE)), ("HEAD", "/nowhere"), ("GET", user_url(JANE))]:
            connection.request(method, target, headers=ADMIN)
            response = connection.getresponse()
            payload = response.read()
            assert response.status in (200, 204, 404), (method, target, response.status)
            if method != "GET":
                assert payload == b""
            else:
                assert json.loads(payload)["_id"] == JANE
    finally:
        connection.close()


# -- bad fixture files -----------------------------------------------------------------------

MEGABYTE = 1024 * 1024
PEAK_RSS_LIMIT_KIB = 1536 * 1024  # 1.5 GiB

# Runs a command and reports its exit code, output and peak resident memory (its own process only).
_MEASURE = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=300)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "peak_kib": peak}))
"""


def _start_measured(*args: str) -> dict:
    finished = subprocess.run([sys.executable, "-c", _MEASURE, *MOCKSERVER, "--port", "0", "--no-access-log", *args],
                              capture_output=True, text=True, timeout=330)
    return json.loads(finished.stdout)


def _write_100_mb(path: Path, head: bytes, unit: bytes, tail: bytes) -> Path:
    """About 100 MB: ``head``, ``unit`` repeated, ``tail``; written in pieces."""
    count = (100 * MEGABYTE - len(head) - len(tail)) // len(unit)
    piece = unit * (MEGABYTE // len(unit))
    with path.open("wb") as out:
        out.write(head)
        whole, rest = divmod(count, MEGABYTE // len(unit))
        for _ in range(whole):
            out.write(piece)
        out.write(unit * rest)
        out.write(tail)
    return path


HUNDRED_MB_FILES = {
    # ~11 million tiny objects, cut off: parsing it would take gigabytes.
    "tiny-objects": (b'{"customers": [', b'{"a": 1},', b"", "too many JSON values to load"),
    # One 100 MB string in a field the format does not have.
    "one-huge-string": (b'{"customers": [], "padding": "', b"x" * 64, b'"}', "unexpected field 'padding'"),
    # A customer name that never ends.
    "unterminated": (b'{"customers": [{"_id": "6500000000000000000000a1", "fullName": "', b"Acme " * 13, b"",
                     "invalid JSON: Unterminated string"),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(HUNDRED_MB_FILES))
def test_a_100_mb_fixture_file_gets_a_clear_message_in_bounded_memory(tmp_path, kind):
    head, unit, tail, message = HUNDRED_MB_FILES[kind]
    path = _write_100_mb(tmp_path / f"{kind}.json", head, unit, tail)
    assert path.stat().st_size > 99 * MEGABYTE
    result = _start_measured("--seed", str(path))
    assert result["code"] == 2, result["stderr"][-2000:]
    assert "serving" not in result["stdout"]
    assert f"{path}: " in result["stderr"] and message in result["stderr"], result["stderr"][-2000:]
    assert max(len(line) for line in result["stderr"].splitlines()) < 400  # nothing echoes the 100 MB
    assert result["peak_kib"] < PEAK_RSS_LIMIT_KIB, f"peak RSS {result['peak_kib'] // 1024} MiB"


@pytest.mark.slow
@pytest.mark.parametrize("content,message", [
    ("", "the file is empty"),
    ("   \n\t\n", "the file is empty"),
    ("{}", "missing required field 'customers'"),
    ("null", "expected object"),
    ('{"customers": []', "invalid JSON"),
])
def test_empty_and_hollow_fixture_files_exit_2_without_starting(tmp_path, content, message):
    path = tmp_path / "hollow.json"
    path.write_text(content)
    result = subprocess.run([*MOCKSERVER, "--port", "0", "--seed", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{path}: " in result.stderr and message in result.stderr, result.stderr
    assert "serving" not in result.stdout and "Traceback" not in result.stderr


def test_millions_of_wrong_items_are_listed_up_to_a_bound(tmp_path):
    """Each of a million wrong items is a schema problem: listing all of them used to take minutes
    and gigabytes (188 s and 2.4 GB for a 10 MB file); now checking stops after a bound."""
    path = tmp_path / "ints.json"
    path.write_text('{"customers": [' + "1," * 1_000_000 + "1]}")
    started = time.monotonic()
    with pytest.raises(FixtureError) as caught:
        FixtureLoader().load_files([path])
    assert time.monotonic() - started < 60  # liveness only
    problems = caught.value.problems
    assert len(problems) == MAX_SCHEMA_PROBLEMS + 1
    assert problems[0] == f"{path}: $.customers[0]: expected object, got integer 1"
    assert problems[-1].endswith(f"checking stopped after {MAX_SCHEMA_PROBLEMS} in this file")


def test_a_record_missing_several_fields_is_one_line(tmp_path):
    path = tmp_path / "hollow-customer.json"
    path.write_text('{"customers": [{}]}')
    with pytest.raises(FixtureError) as caught:
        FixtureLoader().load_files([path])
    assert caught.value.problems == [f"{path}: $.customers[0]: missing required field '_id', 'fullName', 'users'"]
