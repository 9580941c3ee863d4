"""The spec's paths as a route table: the one list of HTTP methods and the one path matcher.

Built from an OpenAPI document (the Users contract, or the admin API's with its ``/__admin``
prefix), it answers which route a request path is on, which methods that route allows (``HEAD``
wherever ``GET`` is, ``OPTIONS`` everywhere), which operation a method is, and the path parameters.
Literal segments win over templated ones, so ``.../users/lookup`` is never taken for
``.../users/{userId}``. The request guard (405, OPTIONS), chaos and the contract runner's safety
rules use it, so they cannot disagree on what a path is.

A request's path is matched once: :meth:`RouteTable.route_of` keeps the match in the ASGI scope
(:data:`ROUTE_KEY`), where every later layer asking a table of the same paths finds it (the request
guard, chaos, sessions, the coverage counters, and Connexion's routing in
:class:`mockserver.server.hotpath.SpecRouting`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from mockserver.core.problems import send_problem

# The operations an OpenAPI path item may hold, in the specification's order.
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# The methods that carry a request body.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The methods that change nothing on the server.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PARAMETER = re.compile(r"\\\{([^/]+?)\\\}")
# Where a request's match is kept in its ASGI scope: a :class:`Matched`.
ROUTE_KEY = "mockserver.spec.route"
# One key object per distinct list of templates (in matching order), so tables built from the same
# paths (the guard's, the coverage counters') share matches; compared by identity.
_TABLE_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}


@dataclass(frozen=True)
class Route:
    template: str  # the path template, prefix included (``/api/v1/customers/{customerId}/users``)
    pattern: re.Pattern[str]
    literal_segments: int
    operations: Mapping[str, Mapping[str, Any]]  # upper-case method -> the spec's operation object
    allow: tuple[str, ...]  # what the route answers: its methods, HEAD with GET, OPTIONS; sorted
    parameters: tuple[str, ...]  # the template's parameter names, in order

    def params(self, path: str) -> dict[str, str]:
        """The path parameters of ``path`` (one of this route's paths), still percent-encoded."""
        match = self.pattern.fullmatch(path)
        return dict(zip(self.parameters, match.groups(), strict=True)) if match else {}

    def operation_id(self, method: str) -> str | None:
        operation = self.operations.get(method)
        return operation.get("operationId") if operation is not None else None


class Matched(NamedTuple):
    """A request path's match by the tables of one :attr:`RouteTable.key`: the route (None: no
    route has the path) and the path parameters' values in template order (still as in the path)."""

    key: tuple[str, ...]
    path: str
    route: Route | None
    values: tuple[str, ...] = ()

    def params(self) -> dict[str, str]:
        return dict(zip(self.route.parameters, self.values, strict=True)) if self.route is not None else {}


def path_methods(item: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The operations of one path item, by upper-case method."""
    return {method.upper(): operation for method, operation in item.items()
            if method in HTTP_METHODS and isinstance(operation, Mapping)}


def base_path(spec: Mapping[str, Any]) -> str:
    """Where the spec's paths are served: the path of its first server when that is a relative URL
    (``/api``), else nothing (``openapi/users.yaml`` serves its paths at the root)."""
    servers = spec.get("servers") or []
    url = servers[0].get("url") if servers and isinstance(servers[0], Mapping) else None
    return url.rstrip("/") if isinstance(url, str) and url.startswith("/") else ""


class RouteTable:
    """The routes of ``spec``'s paths, each under ``prefix``."""

    def __init__(self, spec: Mapping[str, Any], *, prefix: str = ""):
        routes = []
        for template, item in (spec.get("paths") or {}).items():
            full = prefix + template
            operations = path_methods(item)
            allow = set(operations) | {"OPTIONS"} | ({"HEAD"} if "GET" in operations else set())
            escaped = re.escape(full.rstrip("/"))
            parameters = tuple(_PARAMETER.findall(escaped))
            regex = _PARAMETER.sub("([^/]+)", escaped)
            literal = sum(1 for segment in full.split("/") if segment and not segment.startswith("{"))
            routes.append(Route(full, re.compile(f"{regex}/?"), literal, operations, tuple(sorted(allow)),
                                tuple(p.replace("\\", "") for p in parameters)))
        self._in_spec_order = tuple(routes)
        self.routes: tuple[Route, ...] = tuple(sorted(routes, key=lambda r: -r.literal_segments))
        templates = tuple(route.template for route in self.routes)
        self.key = _TABLE_KEYS.setdefault(templates, templates)

    def match(self, path: str) -> Route | None:
        for route in self.routes:
            if route.pattern.fullmatch(path):
                return route
        return None

    def lookup(self, path: str) -> Matched:
        """The match of ``path``, with the path parameters' values."""
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found:
                return Matched(self.key, path, route, found.groups())
        return Matched(self.key, path, None)

    def matched(self, scope: MutableMapping[str, Any]) -> Matched:
        """The match of the request's path, made once per request: kept in ``scope`` for the next
        layer asking a table of the same paths (a layer that changes the path gets a new match)."""
        path = scope["path"]
        found = scope.get(ROUTE_KEY)
        if found is not None and found.key is self.key and found.path == path:
            return found
        found = scope[ROUTE_KEY] = self.lookup(path)
        return found

    def route_of(self, scope: MutableMapping[str, Any]) -> Route | None:
        """The route of the request's path (None: not one of the table's paths), matched once per request."""
        return self.matched(scope).route

    def owns(self, path: str) -> bool:
        return self.match(path) is not None

    def operations(self) -> Iterator[tuple[str, Route, Mapping[str, Any]]]:
        """Every (method, route, operation) of the spec, in the spec's order."""
        for route in self._in_spec_order:
            for method, operation in route.operations.items():
                yield method, route, operation

    def operation_id(self, method: str, path: str) -> str | None:
        route = self.match(path)
        return route.operation_id(method) if route is not None else None


async def answer_method(route: Route, method: str, send) -> bool:
    """What a route answers before any operation runs: a 405 problem with ``Allow`` for a method it
    does not have, a 204 with ``Allow`` for a plain ``OPTIONS``. True when it answered."""
    allow = ", ".join(route.allow)
    if method not in route.allow:
        await send_problem(send, 405, f"{method} is not allowed on {route.template}; allowed: {allow}",
                           [("Allow", allow)])
        return True
    if method == "OPTIONS":
        await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow.encode())]})
        await send({"type": "http.response.body", "body": b""})
        return True
    return False
