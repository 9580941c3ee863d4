"""Security: nothing leaks (no stack trace, file path or library version in any answer, whatever
the error), tokens are looked up by digest and never logged, and the server listens on loopback
only by default. (Tenant isolation: tests/test_isolation.py. The admin API's token:
tests/test_admin.py. A warning when binding beyond loopback: tests/test_cli.py.)
"""

from __future__ import annotations

import http.client
import json
import re

import pytest

import mockserver.store.memory as store_module
from mockserver.app.build import ServerOptions, create_app
from mockserver.store.memory import Store
from tests.conftest import ACME, ADMIN, BIRCH, INTEGRATION, JANE, ROBERT, UNKNOWN_ID, user_url, users_url
from tests.support import PROBLEM, Server

JSON_ADMIN = {**ADMIN, "Content-Type": "application/json"}

# What must never appear in an answer (body or headers).
LEAKS = re.compile(
    r"Traceback|File \"|\.py\b|site-packages|/usr/|/home/|/work/|/tmp/|\\\\"
    r"|connexion|werkzeug|starlette|uvicorn|flask|jsonschema|a2wsgi|httptools|h11|pydantic"
    r"|Python/?\d|CPython|\b\d+\.\d+\.\d+\b",
    re.IGNORECASE,
)

# One request per kind of error the server can answer, and what it must be answered with.
ERRORS = {
    "400 missing parameter": (400, lambda c: c.get(users_url(), headers=ADMIN)),
    "400 bad parameter": (400, lambda c: c.get(f"{users_url('nope')}?{INTEGRATION}", headers=ADMIN)),
    "400 bad enum": (400, lambda c: c.get(f"{users_url()}?integration=other", headers=ADMIN)),
    "400 malformed JSON": (400, lambda c: c.patch(user_url(JANE), content=b'{"pod": ', headers=JSON_ADMIN)),
    "400 invalid UTF-8": (400, lambda c: c.patch(user_url(JANE), content=b'{"pod": "\xff"}', headers=JSON_ADMIN)),
    "400 unknown field": (400, lambda c: c.patch(user_url(JANE), json={"hacker": 1}, headers=ADMIN)),
    "400 null value": (400, lambda c: c.patch(user_url(JANE), json={"pod": None}, headers=ADMIN)),
    "400 deep nesting": (400, lambda c: c.patch(user_url(JANE), content=b"[" * 50_000, headers=JSON_ADMIN)),
    "400 control character in path": (400, lambda c: c.get(f"{users_url()}/%00", headers=ADMIN)),
    "400 bad audit flag": (400, lambda c: c.delete(f"{user_url(JANE)}?isForwarded=perhaps", headers=ADMIN)),
    "401 no token": (401, lambda c: c.get(user_url(JANE))),
    "401 unknown token": (401, lambda c: c.get(user_url(JANE), headers={"Authorization": "Bearer nope"})),
    "401 not bearer": (401, lambda c: c.get(user_url(JANE), headers={"Authorization": "Basic YTpi"})),
    "403 other customer": (403, lambda c: c.get(user_url(JANE, customer=BIRCH), headers=ADMIN)),
    "404 no route": (404, lambda c: c.get("/api/v3/everything", headers=ADMIN)),
    "404 no user": (404, lambda c: c.get(user_url(UNKNOWN_ID), headers=ADMIN)),
    "404 lookup without a user": (404, lambda c: c.get(f"{users_url()}/lookup", headers=ADMIN)),
    "405 method": (405, lambda c: c.put(user_url(JANE), headers=ADMIN)),
    "409 email taken": (409, lambda c: c.patch(user_url(JANE), json={"email": "robert.okafor@acme.example"}, headers=ADMIN)),
    "413 body too large": (413, lambda c: c.patch(user_url(JANE), content=b" " * (2 * 1024 * 1024), headers=JSON_ADMIN)),
    "414 target too long": (414, lambda c: c.get(f"{users_url()}?{INTEGRATION}&search={'x' * 20_000}", headers=ADMIN)),
    "415 media type": (415, lambda c: c.patch(user_url(JANE), content=b"<x/>", headers={**ADMIN, "Content-Type": "application/xml"})),
    "422 unknown role": (422, lambda c: c.patch(user_url(JANE), json={"roleIds": [UNKNOWN_ID]}, headers=ADMIN)),
    "422 self delegation": (422, lambda c: c.patch(user_url(JANE), json={"delegateIds": [JANE]}, headers=ADMIN)),
    "431 header fields": (431, lambda c: c.get(user_url(JANE), headers={"Authorization": "Bearer " + "x" * 70_000})),
}


def assert_no_leak(response) -> None:
    text = response.text
    assert not LEAKS.search(text), (LEAKS.search(text).group(0), text)
    for name, value in response.headers.items():
        assert name.lower() not in ("server", "x-powered-by"), (name, value)
        assert not LEAKS.search(value), (name, value)


@pytest.mark.parametrize("kind", list(ERRORS))
def test_no_error_leaks_a_trace_a_path_or_a_version(client, kind):
    status, send = ERRORS[kind]
    response = send(client)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail"} and body["status"] == status
    assert_no_leak(response)


class _BrokenStore(Store):
    """A store with a bug: its error message names a file and a version, as real errors do."""

    def get_user_json(self, customer_id, user_id):
        raise RuntimeError('File "/work/main/mockserver/store/memory.py", line 42: connexion 3.3.0 exploded')


def test_an_unexpected_error_is_a_plain_500_and_the_details_go_to_the_log(seed_document, caplog):
    app = create_app(_BrokenStore(seed_document), ServerOptions())
    with app.test_client() as client, caplog.at_level("ERROR", logger="mockserver"):
        response = client.get(user_url(JANE), headers=ADMIN)
    assert response.status_code == 500 and response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["detail"] == "the server failed to handle this request; the error is in its log"
    assert_no_leak(response)
    assert "exploded" in caplog.text  # the operator still gets the details


def test_successful_answers_leak_nothing_either(client):
    for response in (client.get(user_url(JANE), headers=ADMIN),
                     client.get(f"{users_url()}?{INTEGRATION}", headers=ADMIN),
                     client.options(user_url(JANE))):
        assert response.status_code in (200, 204)
        for name in response.headers:
            assert name.lower() not in ("server", "x-powered-by")


def test_tokens_are_looked_up_by_digest(store, monkeypatch):
    """The token table is keyed by SHA-256 digests: a lookup hashes the presented token and never
    compares secrets byte by byte (so its time does not depend on how much of a token is right)."""
    digested = []
    real = store_module.token_digest

    def spy(token):
        digested.append(token)
        return real(token)

    monkeypatch.setattr(store_module, "token_digest", spy)
    assert store.principal("jane-token").user_id == JANE
    assert store.principal("jane-tokeN") is None
    assert digested == ["jane-token", "jane-tokeN"]
    assert all(isinstance(key, bytes) and len(key) == 32 for key in store._principals)


# -- the real server -------------------------------------------------------------------------

CANARY = "canary-7f3a9c1e5b2d4086a1c3e5f7b9d1f3a5"


@pytest.mark.slow
def test_a_token_is_never_written_to_the_log_in_full(tmp_path):
    """With the access log on, a distinctive bearer token sent with every kind of request (answered
    200, 400, 401, 403, 404, 405, 413, 415 and 431) never appears in anything the server writes.
    The API takes tokens only in the Authorization header; the access log shows the request line
    as sent, so a value put in the query string by mistake appears there (it is not a token to
    this server, and masking query values would also hide the search terms one debugs with)."""
    server = Server("--any-token", access_log=True)
    auth = {"Authorization": f"Bearer {CANARY}"}
    try:

        def send(method, path, body=None, headers=None):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                connection.request(method, path, body=body, headers={**auth, **(headers or {})})
                response = connection.getresponse()
                response.read()
                return response.status
            finally:
                connection.close()

        statuses = {
            send("GET", user_url(JANE)),
            send("GET", f"{users_url()}?integration=nope"),
            send("PATCH", user_url(JANE), b'{"pod": ', {"Content-Type": "application/json"}),
            send("GET", user_url(JANE), headers={"Authorization": f"Basic {CANARY}"}),
            send("GET", user_url(JANE, customer=UNKNOWN_ID)),
            send("GET", user_url(UNKNOWN_ID)),
            send("PUT", user_url(JANE)),
            send("PATCH", user_url(ROBERT), b"x" * (2 * 1024 * 1024), {"Content-Type": "application/json"}),
            send("PATCH", user_url(ROBERT), b"<x/>", {"Content-Type": "application/xml"}),
            send("GET", user_url(JANE), headers={"X-Pad": "p" * 70_000}),
        }
        assert {200, 400, 401, 404, 405, 413, 415, 431} <= statuses
        assert send("GET", user_url(JANE, customer=BIRCH), headers={"Authorization": "Bearer jane-token"}) == 403
        assert send("GET", f"{users_url()}?{INTEGRATION}&access_token=query-{CANARY}") == 200
    finally:
        code, output = server.stop()
    assert code == 0
    log = output
    assert f'"GET {user_url(JANE)} HTTP/1.1" 200' in log  # the access log was on
    without_query = log.replace(f"access_token=query-{CANARY}", "")
    assert CANARY not in without_query and CANARY[:16] not in without_query
    assert "Traceback" not in log


@pytest.mark.slow
def test_listens_on_loopback_only_by_default():
    server = Server()
    try:
        listening = _listening_addresses(server.port)
    finally:
        server.stop()
    assert listening == ["127.0.0.1"]


def _listening_addresses(port: int) -> list[str]:
    """Local addresses with a listening TCP socket on ``port`` (Linux /proc/net/tcp{,6})."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table, encoding="ascii").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, local_port = local.split(":")
            if int(local_port, 16) == port and state == "0A":  # LISTEN
                if len(address) == 8:
                    found.append(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
                else:
                    found.append(address)
    return found


def test_problem_details_never_echo_a_token(client):
    """Answers about a bad token describe it without repeating it."""
    for headers in ({"Authorization": f"Bearer {CANARY}"}, {"Authorization": f"Token {CANARY}"}):
        response = client.get(user_url(JANE), headers=headers)
        assert response.status_code == 401 and CANARY not in response.text
    response = client.get(user_url(JANE, customer=BIRCH), headers={"Authorization": "Bearer jane-token"})
    assert response.status_code == 403 and "jane-token" not in response.text
    assert json.loads(response.text)["detail"] == f"this token may not access customer {BIRCH}"
    assert ACME not in response.text
