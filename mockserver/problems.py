"""RFC 9457 problem details: the one shape every error of the server takes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

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


async def send_problem(
    send, status: int, detail: str, headers: Iterable[tuple[str, str]] = ()
) -> None:
    """Answer a raw ASGI request with a problem (for middleware that sits before the app)."""
    body = problem_bytes(status, detail)
    raw_headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


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
