"""Per-request costs of Connexion 3.3's FlaskApp that the mock removes, each without giving up
validation, auth, state or Flask. Measured with a profile of GET-by-id (see bench/).

1. :class:`InlineWSGI`: Connexion reaches Flask through a2wsgi, which hands every request to a worker
   thread and sends each part of the answer back through the event loop, waiting on a future each
   time. The mock's handlers only touch memory and never block, so the thread hop buys nothing:
   this bridge calls the WSGI app directly. (The request body has already been read whole and
   size-checked by :class:`mockserver.server.middleware.RequestGuard`; when the body validator has
   parsed it, the bytes are taken from the scope instead of being read a third time.)
2. :data:`JSONIFIER`: Connexion's default serialises responses with ``indent=2`` and sorted keys,
   which forces Python's pure-Python encoder; compact JSON uses the C encoder and keeps the
   document's field order. Answers the handlers hand over already encoded pass through as they are.
3. :class:`DirectOperations`: for the operations it is given (the Users API's), the handler is
   called straight from the ASGI scope once Connexion's middleware has routed, authenticated and
   validated the request: its parameters are parsed and coerced by Connexion's own parameter code
   (the URI parser of the operation, ``prep_kwargs``), but no WSGI environ, Werkzeug request,
   Flask context, URL match or response object is built. Everything else goes to Flask. A JSON
   body comes parsed from the scope (:data:`mockserver.server.runtime.JSON_BODY_KEY`, put there by
   the body validator, which parsed it once) rather than parsed again; the path parameters' parse is
   remembered per raw values.
4. :class:`ApiFirstSwaggerUI`: Connexion's Swagger UI middleware stepping aside for the API's own
   paths (it matched a Starlette router and mount on every request only to hand it on); it and the
   leaving out of the response validation middleware (responses are not validated: a routed
   pass-through) are declared in the one pipeline, :mod:`mockserver.app.pipeline`.
5. :func:`cache_handler_signatures`: Connexion re-inspects the handler's and the token function's
   signatures on every request (``inspect.signature``); the answer never changes for a function,
   so it is cached. :func:`cache_operation_lookups` does the same for an operation's request body
   definition, which Connexion looks up (a media-type match with ``fnmatch``) six times per request,
   and for the validation layer's check that the operation takes the request's media type.
6. :class:`SpecRouting`: Connexion's routing middleware matches the path again with Starlette's
   routers (a mount, then each route in turn) after the request guard has matched it with the
   spec's route table; it takes the guard's match from the scope
   (:meth:`mockserver.spec.routes.RouteTable.matched`) and hands the request to the same operation
   with the same scope Starlette would have made, where it can vouch for that (see its note).
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import connexion.decorators.parameter as connexion_parameter
import connexion.middleware.routing as connexion_routing
import connexion.security as connexion_security
from a2wsgi.wsgi import build_environ
from connexion import context as connexion_context
from connexion.jsonifier import Jsonifier
from connexion.middleware.request_validation import RequestValidationOperation
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.operations import OpenAPIOperation
from connexion.utils import is_json_mimetype
from starlette.convertors import StringConvertor
from starlette.routing import Mount, Route, Router
from starlette.types import Receive, Scope, Send

from mockserver.core.asgi import ClientGone, read_body
from mockserver.core.problems import PROBLEM_JSON, problem_bytes
from mockserver.server.runtime import BODY_KEY, JSON_BODY_KEY
from mockserver.spec.routes import ROUTE_KEY


class InlineWSGI:
    """Calls the WSGI app in the event loop for HTTP requests; anything else (lifespan) goes to
    the bridge it replaces."""

    def __init__(self, wsgi_app: Callable[..., Any], fallback: Callable[..., Any],
                 direct: DirectOperations | None = None):
        self.wsgi_app = wsgi_app
        self.fallback = fallback
        self.direct = direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        if JSON_BODY_KEY in scope:  # read by the guard and parsed by the body validator: not read again
            body = scope[BODY_KEY]
        else:
            try:
                body = await read_body(scope, receive)  # the guard in front already enforced the size limit
            except ClientGone:
                return
        if self.direct is not None and self.direct.handles(scope):
            await self.direct(scope, body, send)
            return
        environ = build_environ(scope, io.BytesIO(body))  # type: ignore[arg-type]
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]
            return lambda data: body.append(data)

        body: list[bytes] = []
        result = self.wsgi_app(environ, start_response)
        try:
            body.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started
        await send(
            {
                "type": "http.response.start",
                "status": int(status.split(" ", 1)[0]),
                "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            }
        )
        await send({"type": "http.response.body", "body": b"".join(body)})


class _Request:
    """What Connexion's ``prep_kwargs`` reads of a request, from the ASGI scope."""

    __slots__ = ("path_params", "query_params", "mimetype")

    def __init__(self, path_params: dict, query_params: dict, mimetype: str):
        self.path_params = path_params
        self.query_params = query_params
        self.mimetype = mimetype


class _Prepared:
    """Per operation, what does not change between requests."""

    __slots__ = ("function", "uri_parser", "arguments", "has_kwargs", "paths")

    def __init__(self, operation: Any):
        self.function = operation.function
        self.uri_parser = operation.uri_parser_class(operation.parameters, operation.body_definition())
        self.arguments, self.has_kwargs = connexion_parameter.inspect_function_arguments(
            connexion_parameter.unwrap_decorators(self.function))
        self.paths: dict[tuple, dict] = {}

    def path_params(self, raw: Mapping[str, str]) -> dict:
        """The path parameters parsed and coerced by the operation's URI parser, remembered per raw
        values (a client asks for the same customer and user again and again; the parse is a pure
        function of them). Bounded; cleared when full. The handler's arguments are built from the
        dictionary, never changed in it."""
        key = tuple(raw.items())
        resolved = self.paths.get(key)
        if resolved is None:
            resolved = self.uri_parser.resolve_path(dict(raw))
            if all(type(value) in _SCALARS for value in resolved.values()):  # nothing a handler could change
                if len(self.paths) >= MAX_REMEMBERED_PATHS:
                    self.paths.clear()
                self.paths[key] = resolved
        return resolved


MAX_REMEMBERED_PATHS = 1024
_SCALARS = frozenset({str, int, float, bool, type(None)})


# Connexion's parameter-name sanitising (three regular-expression substitutions per name, for every
# parameter of every request), remembered: the names are the spec's, a handful.
_sanitized = functools.lru_cache(maxsize=256)(connexion_parameter.sanitized)


class DirectOperations:
    """Answers the operations named in ``operation_ids`` without Flask (see the module's note 3).

    Handlers return ``(body, status, headers)`` with ``body`` the encoded JSON (bytes), or data for
    :data:`JSONIFIER`. An error whose class is in ``status_of`` (or a subclass) is answered as a
    problem with that status and the error's text, as the Flask error handler answers it; any other
    error propagates to Connexion's exception middleware (a logged 500 problem)."""

    def __init__(self, operation_ids: frozenset[str], status_of: Mapping[type, int]):
        self.operation_ids = operation_ids
        self.status_of = tuple(status_of.items())
        self.cache: dict[int, tuple[Any, _Prepared]] = {}

    def handles(self, scope: Scope) -> bool:
        routing = scope.get("extensions", {}).get("connexion_routing")
        return routing is not None and routing.get("operation_id") in self.operation_ids

    def prepared(self, operation: Any) -> _Prepared:
        """What does not change between requests of ``operation``, made on its first request."""
        entry = self.cache.get(id(operation))
        if entry is None or entry[0] is not operation:
            entry = self.cache[id(operation)] = (operation, _Prepared(operation))
        return entry[1]

    async def __call__(self, scope: Scope, body: bytes, send: Send) -> None:
        prepared = self.prepared(connexion_context.operation._get_current_object())
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
        mimetype = content_type.partition(";")[0].strip().lower()
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            query.setdefault(key, []).append(value)
        uri_parser = prepared.uri_parser
        request = _Request(prepared.path_params(scope.get("path_params", {})), uri_parser.resolve_query(query),
                           mimetype)
        if not (body and mimetype and is_json_mimetype(mimetype)):
            request_body = None
        elif JSON_BODY_KEY in scope:
            request_body = scope[JSON_BODY_KEY]  # these bytes, parsed (and validated) once by the body validator
        else:
            request_body = json.loads(body)
        kwargs = connexion_parameter.prep_kwargs(
            request, request_body=request_body, files={}, arguments=prepared.arguments,
            has_kwargs=prepared.has_kwargs, sanitize=_sanitized)
        try:
            data, status, headers = prepared.function(**kwargs)
            payload = data if isinstance(data, bytes) else JSONIFIER.dumps(data).encode("utf-8")
            answer_type = headers.get("Content-Type", "application/json")
        except Exception as err:
            status = next((code for cls, code in self.status_of if isinstance(err, cls)), None)
            if status is None:
                raise
            payload, answer_type = problem_bytes(status, str(err)), PROBLEM_JSON
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", answer_type.encode("latin-1")), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else payload})


class PassThroughJsonifier(Jsonifier):
    """Connexion's jsonifier, except that ``bytes`` are taken as JSON already encoded (the store's
    kept answers, see :mod:`mockserver.store.render`) and passed through as they are."""

    def dumps(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, bytes):
            return data
        return super().dumps(data, **kwargs)


JSONIFIER = PassThroughJsonifier(json, separators=(",", ":"), ensure_ascii=False)


class ApiFirstSwaggerUI(SwaggerUIMiddleware):
    """Connexion's Swagger UI middleware (the UI and the served spec), except that a request under
    :attr:`api_prefix` (where neither lives) goes straight to the next layer."""

    api_prefix = "/api/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.api_prefix):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class SpecRouting(RoutingMiddleware):
    """Connexion's routing middleware, taking the path's match from the scope when it can.

    Connexion routes with Starlette: a router holding one mount per API, each holding one route per
    (path, method) in the spec's order; the first route that matches the path and has the method
    wins. The request guard in front has matched the path with the spec's route table already
    (literal segments first) and kept the match in the scope. For a route and method where that
    match decides what Starlette would decide, the request goes straight to the operation Starlette
    would pick, with the scope changes Starlette and Connexion would make; anything else (no match
    kept, a changed path, a trailing slash, a ``root_path``, a route or router this class cannot
    vouch for) is routed by Starlette as before.

    Starlette's pick equals the table's when the API is mounted at the root with no middleware, the
    route's parameters are plain strings (the same ``[^/]+`` as the table's), and no route that
    comes before it in Starlette's order, has the method and could match the same paths is one the
    table tries after it (the table's earlier routes did not match, or it would have picked them).
    """

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self._plans: dict[tuple[str, ...], dict[tuple[str, str], tuple[Mount, Route]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = scope.get(ROUTE_KEY) if scope["type"] == "http" else None
        if found is None or found.route is None or found.path != scope["path"] or scope.get("root_path") \
                or found.path[-1] in "/\n":
            await super().__call__(scope, receive, send)
            return
        plan = self._plans.get(found.key)
        if plan is None:
            plan = self._plans[found.key] = self._plan(found.key)
        target = plan.get((found.route.template, scope["method"]))
        if target is None:
            await super().__call__(scope, receive, send)
            return
        mount, route = target
        connexion_routing._scope.set(scope.copy())  # as RoutingMiddleware.__call__
        # What Router.app and Mount.matches do for a mount at the root, then Router.app and Route.matches:
        if "router" not in scope:
            scope["router"] = self.router
        scope["route"] = mount
        root_path = scope.get("root_path", "")
        scope.update({"path_params": dict(scope.get("path_params", {})),
                      "app_root_path": scope.get("app_root_path", root_path), "root_path": root_path,
                      "endpoint": mount.app})
        scope["route"] = route
        path_params = dict(scope["path_params"])
        path_params.update(zip(found.route.parameters, found.values, strict=True))
        scope.update({"endpoint": route.endpoint, "path_params": path_params})
        await route.handle(scope, receive, send)

    def _plan(self, key: tuple[str, ...]) -> dict[tuple[str, str], tuple[Mount, Route]]:
        """(template, method) -> the mount and route Starlette picks for every path the table matches
        to that template, for the routes this class can vouch for (see the class's note)."""
        outer = self.router
        if len(outer.routes) != 1 or not _plain_router(outer):
            return {}
        mount = outer.routes[0]
        if not isinstance(mount, Mount) or mount.path != "" or not isinstance(mount.app, Router) \
                or not _plain_router(mount.app):
            return {}
        routes = list(mount.app.routes)
        tried_before = {template: index for index, template in enumerate(key)}  # the table's order
        plan: dict[tuple[str, str], tuple[Mount, Route]] = {}
        for index, route in enumerate(routes):
            template = _template(route)
            if template is None or template not in tried_before or not route.methods:
                continue
            for method in route.methods:
                unsure = any(
                    _template(earlier) is None or earlier.methods is None
                    or (method in earlier.methods and _may_overlap(earlier.path, route.path)
                        and tried_before.get(_template(earlier), len(key)) > tried_before[template])
                    for earlier in routes[:index])
                if not unsure:
                    plan.setdefault((template, method), (mount, route))
        return plan


def _plain_router(router: Router) -> bool:
    """A Starlette router with no middleware of its own (its stack is its routing)."""
    return router.middleware_stack == router.app


def _template(route: Any) -> str | None:
    """The spec's path template of a Starlette route whose parameters are all plain strings, else None."""
    if not isinstance(route, Route) or not all(isinstance(c, StringConvertor) for c in route.param_convertors.values()):
        return None
    return re.sub(r"\{([^}:]+)(?::str)?\}", r"{\1}", route.path)


def _may_overlap(first: str, second: str) -> bool:
    """Whether two templates (plain string parameters) can match one same path."""
    a, b = first.split("/"), second.split("/")
    return len(a) == len(b) and all(x == y or x.startswith("{") or y.startswith("{") for x, y in zip(a, b))


def cache_operation_lookups() -> None:
    """Make two of Connexion's per-request lookups on an operation cache lookups. Idempotent.

    - The request body definition (a media-type match of the content type against the spec's, with
      ``fnmatch``, six times per request): the definition is the spec's own object either way
      (Connexion attaches the spec's components to it in place), so callers get what they got before.
    - The request's media type accepted by the operation (the validation layer's 415 check, which
      builds a media-type dictionary of the operation's types per request): an accepted type is
      remembered; anything else is checked (and refused) as before."""
    _cache_media_type_check()
    lookup = OpenAPIOperation.body_definition
    if getattr(lookup, "_mockserver_cached", False):
        return

    @functools.wraps(lookup)
    def body_definition(self: OpenAPIOperation, content_type: str | None = None) -> dict:
        cache = self.__dict__.setdefault("_mockserver_body_definitions", {})
        found = cache.get(content_type)
        if found is None:
            found = lookup(self, content_type)
            if len(cache) < MAX_CACHED_CONTENT_TYPES:  # the content type is the client's: bounded
                cache[content_type] = found
        return found

    body_definition._mockserver_cached = True  # type: ignore[attr-defined]
    OpenAPIOperation.body_definition = body_definition  # type: ignore[method-assign]


MAX_CACHED_CONTENT_TYPES = 16


def _cache_media_type_check() -> None:
    check = RequestValidationOperation.validate_mime_type
    if getattr(check, "_mockserver_cached", False):
        return

    @functools.wraps(check)
    def validate_mime_type(self: RequestValidationOperation, mime_type: str) -> None:
        accepted = self.__dict__.setdefault("_mockserver_accepted_types", set())
        if mime_type in accepted:
            return
        check(self, mime_type)  # the 415 for a type the operation does not take
        if len(accepted) < MAX_CACHED_CONTENT_TYPES:  # the content type is the client's: bounded
            accepted.add(mime_type)

    validate_mime_type._mockserver_cached = True  # type: ignore[attr-defined]
    RequestValidationOperation.validate_mime_type = validate_mime_type  # type: ignore[method-assign]


def cache_handler_signatures() -> None:
    """Make Connexion's per-request signature inspection (of handlers, and of the bearer-token
    function in the security layer) a cache lookup. Idempotent."""
    for module in (connexion_parameter, connexion_security):
        inspect_arguments = module.inspect_function_arguments
        if not getattr(inspect_arguments, "_mockserver_cached", False):
            module.inspect_function_arguments = _cached_inspection(inspect_arguments)


def _cached_inspection(inspect_arguments: Callable[..., Any]) -> Callable[..., Any]:
    cached = functools.lru_cache(maxsize=256)(inspect_arguments)

    @functools.wraps(inspect_arguments)
    def inspect_function_arguments(function: Callable[..., Any]) -> tuple[list[str], bool]:
        arguments, has_kwargs = cached(function)
        return list(arguments), has_kwargs

    inspect_function_arguments._mockserver_cached = True  # type: ignore[attr-defined]
    return inspect_function_arguments
