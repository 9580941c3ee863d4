"""RFC 9457 problem details: the one shape every error of the server takes, built and sent here.

- :func:`problem` / :func:`problem_bytes`: the document (``type``, ``title``, ``status``, a one-line
  ``detail``, any extra members) and its bytes;
- :class:`Problem`: one problem answer with its headers, sendable as is: to a raw ASGI ``send``
  (:meth:`Problem.send`; a :class:`Problem` is also an ASGI app), as a Connexion error handler's
  answer (:meth:`Problem.connexion_response`) or a Flask one (:meth:`Problem.flask_response`), or
  written as HTTP/1.1 bytes by the server's protocol (:meth:`Problem.raw_headers`);
- :class:`ProblemError`: raise it where a problem is the answer, catch it where it is sent;
- :func:`send_problem`: the ASGI sender for middleware that sits before the app.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from mockserver.core.asgi import encode_headers, send_whole

PROBLEM_JSON = "application/problem+json"


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> dict[str, Any]:
    """A problem body: ``type``, ``title``, ``status`` and a one-line ``detail``."""
    return {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }


def problem_bytes(status: int, detail: str, **extra: Any) -> bytes:
    return json.dumps(problem(status, detail, **extra)).encode()


@dataclass(frozen=True)
class Problem:
    """A problem answer: status, detail, response headers and extra members of the document."""

    status: int
    detail: str
    headers: tuple[tuple[str, str], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, status: int, detail: str, headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
           **extra: Any) -> Problem:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        return cls(status, detail, tuple(pairs), extra)

    def document(self) -> dict[str, Any]:
        return problem(self.status, self.detail, **self.extra)

    def body(self) -> bytes:
        return json.dumps(self.document()).encode()

    def raw_headers(self, body: bytes) -> list[tuple[bytes, bytes]]:
        """The answer's header fields for ``body`` (content type and length first)."""
        return [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
                *encode_headers(self.headers)]

    async def send(self, send, *, head: bool = False) -> None:
        await send_whole(send, self.status, self.body(), content_type=PROBLEM_JSON, headers=self.headers, head=head)

    async def __call__(self, scope, receive, send) -> None:
        await self.send(send, head=scope.get("method") == "HEAD")

    def connexion_response(self):
        from connexion.lifecycle import ConnexionResponse

        return ConnexionResponse(status_code=self.status, mimetype=PROBLEM_JSON, content_type=PROBLEM_JSON,
                                 body=json.dumps(self.document()), headers=dict(self.headers))

    def flask_response(self):
        import flask

        return flask.Response(json.dumps(self.document()), status=self.status, mimetype=PROBLEM_JSON,
                              headers=list(self.headers))


class ProblemError(Exception):
    """A request that is answered with :attr:`problem`."""

    def __init__(self, status: int, detail: str, headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
                 **extra: Any):
        super().__init__(detail)
        self.problem = Problem.of(status, detail, headers, **extra)


async def send_problem(send, status: int, detail: str, headers: Iterable[tuple[str, str]] = (), **extra: Any) -> None:
    """Answer a raw ASGI request with a problem (for middleware that sits before the app)."""
    await Problem.of(status, detail, headers, **extra).send(send)


def closed_object_problem(body: Any, fields: Iterable[str], *, example: str, what: str) -> str | None:
    """Why ``body`` is not a JSON object with only ``fields`` (the admin API's small documents), or None.
    ``example`` is a valid document; ``what`` names the document with its verb ("a rule has", "chaos settings have")."""
    fields = tuple(fields)
    if not isinstance(body, dict):
        return f"the body must be a JSON object such as {example}"
    unknown = sorted(set(body) - set(fields))
    if unknown:
        return f"unknown field(s) {', '.join(map(repr, unknown))}; {what} {', '.join(fields)}"
    return None
