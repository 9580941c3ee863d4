"""Deliberately non-conformant Users API servers, built by wrapping the fake (its code is untouched).

Each variant is the conforming fake behind an ASGI middleware that breaks exactly one promise of
``openapi/users.yaml``; ``VARIANTS`` maps a name to a builder and to the Schemathesis check that
must catch it. The contract runner's tests run against each one and expect exit code 1 with that
check named.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from tests.support import fresh_fake

USER_PATH = re.compile(r"^/api/v[12]/customers/[^/]+/users/(?!lookup/?$)[^/]+/?$")
LIST_PATH = re.compile(r"^/api/v1/customers/[^/]+/users/?$")
INTEGRATION = "cloud-assistant-cdr"


@dataclass
class Exchange:
    """One request as the wrapper sees it; a hook may change any field before the fake gets it."""

    scope: dict[str, Any]
    body: bytes

    @property
    def method(self) -> str:
        return self.scope["method"]

    @property
    def path(self) -> str:
        return self.scope["path"]

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return value
        return None

    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)

    def set_query(self, pairs: list[tuple[str, str]]) -> None:
        self.scope = {**self.scope, "query_string": urlencode(pairs).encode("latin-1")}


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def set_json(self, document: Any) -> None:
        self.body = json.dumps(document).encode()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != b"content-length"]
        self.headers.append((b"content-length", str(len(self.body)).encode()))

    def content_type(self) -> bytes:
        for key, value in self.headers:
            if key.lower() == b"content-type":
                return value
        return b""


class Breaker:
    """ASGI middleware around an app.

    ``before(exchange)`` may change the request or return an :class:`Answer` to send instead;
    ``route(exchange)`` picks the app that handles it (default: the wrapped one);
    ``after(exchange, answer)`` may change the answer.
    """

    def __init__(self, app, *, before=None, after=None, route=None):
        self.app = app
        self.before = before or (lambda exchange: None)
        self.after = after or (lambda exchange, answer: None)
        self.route = route or (lambda exchange: self.app)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        exchange = Exchange(scope=dict(scope), body=b"".join(chunks))
        short_circuit = self.before(exchange)
        if short_circuit is not None:
            answer = short_circuit
        else:
            answer = await self._call(self.route(exchange), exchange)
        self.after(exchange, answer)
        await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
        await send({"type": "http.response.body", "body": answer.body})

    @staticmethod
    async def _call(app, exchange: Exchange) -> Answer:
        sent = False

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": exchange.body, "more_body": False}
            return {"type": "http.disconnect"}

        start: dict[str, Any] = {}
        body = []

        async def send(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await app(exchange.scope, receive, send)
        return Answer(status=start["status"], headers=list(start.get("headers", [])), body=b"".join(body))


def _is_json_ok(exchange: Exchange, answer: Answer) -> bool:
    return exchange.method == "GET" and answer.status == 200 and answer.content_type().startswith(b"application/json")


def _users_in(document: Any) -> list[dict]:
    if isinstance(document, list):
        return [user for user in document if isinstance(user, dict)]
    if isinstance(document, dict) and "_id" in document:
        return [document]
    return []


# -- the variants ------------------------------------------------------------------------------


def missing_required_field():
    """GET answers lose the required ``email`` of every user."""
    app, store = fresh_fake()

    def after(exchange, answer):
        if _is_json_ok(exchange, answer) and (USER_PATH.match(exchange.path) or LIST_PATH.match(exchange.path)):
            document = answer.json()
            for user in _users_in(document):
                user.pop("email", None)
            answer.set_json(document)

    return Breaker(app, after=after)


def wrong_type():
    """GET answers carry ``firstName`` as a number."""
    app, store = fresh_fake()

    def after(exchange, answer):
        if _is_json_ok(exchange, answer) and (USER_PATH.match(exchange.path) or LIST_PATH.match(exchange.path)):
            document = answer.json()
            for user in _users_in(document):
                user["firstName"] = 12345
            answer.set_json(document)

    return Breaker(app, after=after)


def undocumented_status():
    """A missing user is 410 Gone, a status get_user does not document."""
    app, store = fresh_fake()

    def after(exchange, answer):
        if exchange.method == "GET" and USER_PATH.match(exchange.path) and answer.status == 404:
            answer.status = 410

    return Breaker(app, after=after)


def server_error_on_some_input():
    """A ``search`` with punctuation in it crashes the list (500)."""
    app, store = fresh_fake()

    def before(exchange):
        if exchange.method == "GET" and LIST_PATH.match(exchange.path):
            search = dict(exchange.query()).get("search", "")
            if any(not (ch.isalnum() or ch.isspace()) for ch in search):
                body = json.dumps({"type": "about:blank", "title": "Internal Server Error", "status": 500,
                                   "detail": "unterminated quoted string in search"}).encode()
                return Answer(500, [(b"content-type", b"application/problem+json")], body)
        return None

    return Breaker(app, before=before)


def auth_ignored():
    """A request without a token is served as if it came from an admin."""
    app, store = fresh_fake()

    def before(exchange):
        if exchange.header(b"authorization") is None:
            headers = [*exchange.scope["headers"], (b"authorization", b"Bearer acme-admin-token")]
            exchange.scope = {**exchange.scope, "headers": headers}
        return None

    return Breaker(app, before=before)


def wrong_content_type():
    """Successful JSON answers say ``text/plain``."""
    app, store = fresh_fake()

    def after(exchange, answer):
        if 200 <= answer.status < 300 and answer.content_type().startswith(b"application/json"):
            answer.headers = [(k, v) for k, v in answer.headers if k.lower() != b"content-type"]
            answer.headers.append((b"content-type", b"text/plain; charset=utf-8"))

    return Breaker(app, after=after)


def _shadowing(method: str):
    """Requests with ``method`` on a user go to a throwaway copy of the fake, reset to the seed
    first: they are validated and answered exactly as the fake would, and change nothing that
    later requests see."""
    app, store = fresh_fake()
    shadow_app, shadow_store = fresh_fake()

    def route(exchange):
        if exchange.method == method and USER_PATH.match(exchange.path):
            shadow_store.reset()
            return shadow_app
        return app

    return Breaker(app, route=route)


def delete_does_not_delete():
    """DELETE answers 200 with the user, who is still served afterwards."""
    return _shadowing("DELETE")


def patch_does_not_persist():
    """PATCH answers 200 with the updated user, but a later GET shows the old values."""
    return _shadowing("PATCH")


def invalid_request_accepted():
    """A list request without a valid ``integration`` is answered 200 instead of 400."""
    app, store = fresh_fake()

    def before(exchange):
        if exchange.method == "GET" and LIST_PATH.match(exchange.path):
            pairs = [(k, v) for k, v in exchange.query() if k != "integration"]
            exchange.set_query([*pairs, ("integration", INTEGRATION)])
        return None

    return Breaker(app, before=before)


@dataclass(frozen=True)
class Variant:
    build: Callable[[], Any]
    check: str
    # Phases the variant needs (keeps each test short); None: all.
    phases: str | None = None


VARIANTS: dict[str, Variant] = {
    "missing_required_field": Variant(missing_required_field, "response_schema_conformance", "examples,coverage"),
    "wrong_type": Variant(wrong_type, "response_schema_conformance", "examples,coverage"),
    "undocumented_status": Variant(undocumented_status, "status_code_conformance", "examples,coverage"),
    "server_error_on_some_input": Variant(server_error_on_some_input, "not_a_server_error", "coverage,fuzzing"),
    "auth_ignored": Variant(auth_ignored, "ignored_auth", "examples,coverage"),
    "wrong_content_type": Variant(wrong_content_type, "content_type_conformance", "examples,coverage"),
    "delete_does_not_delete": Variant(delete_does_not_delete, "delete_persistence", "examples,stateful"),
    "patch_does_not_persist": Variant(patch_does_not_persist, "update_persistence", "examples,fuzzing"),
    "invalid_request_accepted": Variant(invalid_request_accepted, "negative_data_rejection", "coverage"),
}
