"""The one pipeline: every layer a request meets, outermost first, declared once in :data:`PIPELINE`.

Connexion keeps its whole middleware stack in one list (``connexion/middleware/main.py``, read at 3.3)
and wraps the app in it, first entry outermost. :func:`middlewares` hands Connexion that list whole,
built from :data:`PIPELINE` (so no layer's place depends on the order of ``add_middleware`` calls);
the HTTP server's protocol is outside Connexion (:mod:`mockserver.app.serve`) and the bridge to the
operations inside it (:mod:`mockserver.app.build`). A layer marked ``[when ...]`` is there only then.
The diagram below is :func:`diagram`'s output (``tests/test_pipeline.py`` checks that it is)::

    ProblemHttpToolsProtocol  the HTTP server's own errors (bad request line, huge headers) as problems
    DurableAnswers            an answer after a change waits until the state file holds it [when --state-file]
    Embedder                  the embedding test harness's recorder (the users_api fixture) [when embedded]
    ServerErrorMiddleware     Connexion's: the last handler of its own stack
    LastResort                whatever escapes every layer below is one logged 500 problem (503 for a backend out of reach)
    HostCheck                 a Host not localhost, an IP or --allowed-host is a 403 (DNS rebinding) [when the command]
    IdentityMiddleware        /__mockserver/identity: the runners recognise this fake by its secret
    ServedSpecServers         GET /openapi.json with the contract's own servers (Swagger UI's Servers list)
    Dashboard                 /__admin/ui/ files and the HTML index at / (not journaled) [when admin API]
    JournalMiddleware         records every Users API request with its final status and duration [when journal]
    CoverageMiddleware        counts every answer by operation and status, for GET /__admin/coverage [when admin API]
    MockCORSMiddleware        preflights answered here; Access-Control-* on every answer, errors too [when CORS]
    AdminAPI                  /__admin/... answered here: no chaos, sessions or body limit of the API [when admin API]
    DelayMiddleware           Prefer: delay / --latency; draws the request's fault roll
    AttachRuntime             the store and the token rule into the scope, before anything reads them
    RequestGuard              405 / OPTIONS / 413 / 414 / 415 / 431 before Connexion parses anything
    SessionMiddleware         X-Mock-Session: the request runs on that session's store
    ExceptionMiddleware       Connexion's: its errors (401, 400, 404) become problems (mockserver.app.build)
    ApiFirstSwaggerUI         Swagger UI and the served spec; steps aside for /api/ paths
    SpecRouting               Connexion's routing: the operation of the route RequestGuard matched, kept in the scope
    SecurityMiddleware        Connexion's: the bearer token (401)
    RequestValidationMiddleware Connexion's: parameters and body against the spec (400)
    LifespanMiddleware        Connexion's: start-up and shut-down events
    ForcedAnswers             Prefer: code=..., scenario rules and chaos faults, after auth and validation
    ContextMiddleware         Connexion's: the operation in the request context
    InlineWSGI                the fast path: Users operations called directly, the rest to Flask in the event loop
    handlers                  one function per operationId (403 for another customer's token, then the store)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware

from mockserver.admin import PREFIX as ADMIN_PREFIX
from mockserver.admin import AdminAPI, Control
from mockserver.admin.dashboard import Dashboard
from mockserver.admin.token import new_admin_token  # noqa: F401  (mockserver proxy's command imports it from here)
from mockserver.features.chaos import Catalog, DelayMiddleware, ForcedAnswers, LiveChaos
from mockserver.features.cors import MockCORSMiddleware
from mockserver.features.coverage_live import CoverageMiddleware
from mockserver.features.journal import JournalMiddleware
from mockserver.features.sessions import SessionMiddleware
from mockserver.server.hotpath import ApiFirstSwaggerUI, SpecRouting
from mockserver.server.identity import IdentityMiddleware, Instance
from mockserver.server.last_resort import LastResort
from mockserver.server.middleware import AttachRuntime, HostCheck, RequestGuard, ServedSpecServers
from mockserver.server.runtime import Runtime
from mockserver.store.persistence import DurableAnswers, StateFile

SERVER, MIDDLEWARE, INSIDE = "server", "middleware", "inside"  # where a layer lives (see Layer.where)


@dataclass
class Parts:
    """What the layers are made of: the state objects of one built fake (mockserver.app.build)."""

    options: Any  # mockserver.app.build.ServerOptions
    runtime: Runtime
    identity: Instance
    control: Control
    catalog: Catalog
    live: LiveChaos
    fault_codes: dict[str, list[int]]
    swagger_ui_path: str
    state: StateFile | None = None
    embedder: Callable[[Any], Any] | None = None  # an ASGI wrapper the embedding harness puts outside the fake

    @property
    def skip(self) -> tuple[str, ...]:
        return unrecorded_paths(self.swagger_ui_path)


def _always(_parts: Parts) -> bool:
    return True


@dataclass(frozen=True)
class Layer:
    """One layer of the pipeline. ``where``: :data:`SERVER` (the HTTP server's, outside the app),
    :data:`MIDDLEWARE` (an entry of Connexion's middleware list, made by ``make``) or :data:`INSIDE` (the
    bridge and the handlers, put in place by the builder). ``when`` names the condition ``present`` tests."""

    name: str
    reason: str
    where: str = MIDDLEWARE
    make: Callable[[Parts], Any] | None = None
    when: str = ""
    present: Callable[[Parts], bool] = _always
    connexion: bool = False  # one of Connexion's own layers (ConnexionMiddleware.default_middlewares)

    def line(self) -> str:
        condition = f" [when {self.when}]" if self.when else ""
        return f"{self.name:<25} {self.reason}{condition}"


def _as_is(middleware: type) -> Callable[[Parts], Any]:
    """A layer made with no settings of this fake."""
    return lambda _parts: middleware


def _admin(parts: Parts) -> bool:
    return bool(parts.options.admin_token)


PIPELINE: tuple[Layer, ...] = (
    Layer("ProblemHttpToolsProtocol", "the HTTP server's own errors (bad request line, huge headers) as problems",
          where=SERVER),
    Layer("DurableAnswers", "an answer after a change waits until the state file holds it",
          make=lambda p: partial(DurableAnswers, state=p.state), when="--state-file",
          present=lambda p: p.state is not None),
    Layer("Embedder", "the embedding test harness's recorder (the users_api fixture)",
          make=lambda p: p.embedder, when="embedded", present=lambda p: p.embedder is not None),
    Layer("ServerErrorMiddleware", "Connexion's: the last handler of its own stack",
          make=_as_is(ServerErrorMiddleware), connexion=True),
    Layer("LastResort", "whatever escapes every layer below is one logged 500 problem (503 for a backend out of reach)", make=_as_is(LastResort)),
    Layer("HostCheck", "a Host not localhost, an IP or --allowed-host is a 403 (DNS rebinding)",
          make=lambda p: partial(HostCheck, allowed=p.options.allowed_hosts), when="the command",
          present=lambda p: p.options.allowed_hosts is not None),
    Layer("IdentityMiddleware", "/__mockserver/identity: the runners recognise this fake by its secret",
          make=lambda p: partial(IdentityMiddleware, instance=p.identity)),
    Layer("ServedSpecServers", "GET /openapi.json with the contract's own servers (Swagger UI's Servers list)",
          make=lambda p: partial(ServedSpecServers, servers=p.catalog.spec.get("servers") or [{"url": "/"}])),
    Layer("Dashboard", "/__admin/ui/ files and the HTML index at / (not journaled)",
          make=lambda p: partial(Dashboard, swagger_ui_path=p.swagger_ui_path if p.options.swagger_ui else None),
          when="admin API", present=_admin),
    Layer("JournalMiddleware", "records every Users API request with its final status and duration",
          make=lambda p: partial(JournalMiddleware, journal=p.control.journal, skip=p.skip), when="journal",
          present=lambda p: p.control.journal is not None),
    Layer("CoverageMiddleware", "counts every answer by operation and status, for GET /__admin/coverage",
          make=lambda p: partial(CoverageMiddleware, counters=p.control.coverage, skip=p.skip), when="admin API",
          present=_admin),
    Layer("MockCORSMiddleware", "preflights answered here; Access-Control-* on every answer, errors too",
          make=lambda p: partial(MockCORSMiddleware, origins=tuple(p.options.cors_origins), routes=p.catalog.routes),
          when="CORS",
          present=lambda p: p.options.cors),
    Layer("AdminAPI", "/__admin/... answered here: no chaos, sessions or body limit of the API",
          make=lambda p: partial(AdminAPI, control=p.control, token=p.options.admin_token), when="admin API",
          present=_admin),
    Layer("DelayMiddleware", "Prefer: delay / --latency; draws the request's fault roll",
          make=lambda p: partial(DelayMiddleware, catalog=p.catalog, plan=p.live.plan, live=p.live)),
    Layer("AttachRuntime", "the store and the token rule into the scope, before anything reads them",
          make=lambda p: partial(AttachRuntime, runtime=p.runtime)),
    Layer("RequestGuard", "405 / OPTIONS / 413 / 414 / 415 / 431 before Connexion parses anything",
          make=lambda p: partial(RequestGuard, routes=p.catalog.routes, max_body_bytes=p.options.max_body_bytes,
                                 max_target_bytes=p.options.max_target_bytes)),
    Layer("SessionMiddleware", "X-Mock-Session: the request runs on that session's store",
          make=lambda p: partial(SessionMiddleware, sessions=p.control.sessions, applies_to=p.catalog.owns_request)),
    Layer("ExceptionMiddleware", "Connexion's: its errors (401, 400, 404) become problems (mockserver.app.build)",
          make=_as_is(ExceptionMiddleware), connexion=True),
    Layer("ApiFirstSwaggerUI", "Swagger UI and the served spec; steps aside for /api/ paths",
          make=_as_is(ApiFirstSwaggerUI), connexion=True),
    Layer("SpecRouting", "Connexion's routing: the operation of the route RequestGuard matched, kept in the scope",
          make=_as_is(SpecRouting), connexion=True),
    Layer("SecurityMiddleware", "Connexion's: the bearer token (401)", make=_as_is(SecurityMiddleware), connexion=True),
    Layer("RequestValidationMiddleware", "Connexion's: parameters and body against the spec (400)",
          make=_as_is(RequestValidationMiddleware), connexion=True),
    Layer("LifespanMiddleware", "Connexion's: start-up and shut-down events", make=_as_is(LifespanMiddleware), connexion=True),
    Layer("ForcedAnswers", "Prefer: code=..., scenario rules and chaos faults, after auth and validation",
          make=lambda p: partial(ForcedAnswers, catalog=p.catalog, error_rate=p.options.chaos.error_rate,
                                 fault_codes=p.fault_codes, scenarios=p.control.scenarios if _admin(p) else None,
                                 live=p.live)),
    Layer("ContextMiddleware", "Connexion's: the operation in the request context", make=_as_is(ContextMiddleware), connexion=True),
    Layer("InlineWSGI", "the fast path: Users operations called directly, the rest to Flask in the event loop",
          where=INSIDE),
    Layer("handlers", "one function per operationId (403 for another customer's token, then the store)", where=INSIDE),
)
# Connexion's own layers stand where Connexion's default list has them (ConnexionMiddleware.default_middlewares),
# with its Swagger UI and routing middleware replaced (mockserver.server.hotpath) and its response
# validation left out (responses are not validated: a routed pass-through). tests/test_pipeline.py checks it.
CONNEXION_REPLACED = {"SwaggerUIMiddleware": "ApiFirstSwaggerUI", "RoutingMiddleware": "SpecRouting"}
CONNEXION_LEFT_OUT = ("ResponseValidationMiddleware",)


def middlewares(parts: Parts) -> list[Any]:
    """Connexion's whole middleware list for one fake, outermost first: the present layers of :data:`PIPELINE`."""
    return [layer.make(parts) for layer in PIPELINE
            if layer.where == MIDDLEWARE and layer.make is not None and layer.present(parts)]


def diagram() -> str:
    """The module docstring's diagram: one line per layer, outermost first."""
    return "\n".join(layer.line() for layer in PIPELINE)


def unrecorded_paths(swagger_ui_path: str) -> tuple[str, ...]:
    """The path prefixes that are not Users API traffic: the admin API, Swagger UI, the spec itself."""
    return ADMIN_PREFIX, swagger_ui_path, "/openapi.json", "/openapi.yaml"


