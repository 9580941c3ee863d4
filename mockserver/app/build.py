"""The one builder: :func:`build_app` puts a fake together and returns it as a :class:`Fake` (the ASGI
app, the store, the identity, the control, the options). No state at import time.

The CLI, the pytest plugin, drift's oracle and the tests build a fake here and serve it with
:mod:`mockserver.app.serve`. The spec is the only router: every operation is resolved by
``operationId`` to :mod:`mockserver.server.handlers.users`. The layers a request meets are declared
once, in :mod:`mockserver.app.pipeline`. This module is where errors become problem responses.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import connexion
import flask
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionResponse
from connexion.options import SwaggerUIOptions
from connexion.resolver import RelativeResolver
from starlette.exceptions import HTTPException

from mockserver.admin import Control
from mockserver.app import pipeline
from mockserver.core.problems import Problem
from mockserver.features import journal
from mockserver.features.chaos import Catalog, ChaosOptions, ChaosPlan, LiveChaos
from mockserver.features.chaos_control import ChaosControl
from mockserver.features.journal import Journal
from mockserver.features.scenarios import Scenarios
from mockserver.features.sessions import DEFAULT_MAX_SESSIONS, DEFAULT_TTL_SECONDS, Sessions
from mockserver.server import hotpath, unavailable
from mockserver.server.auth import Forbidden
from mockserver.server.handlers import users as users_handlers
from mockserver.server.identity import Instance
from mockserver.server.runtime import Runtime
from mockserver.server.validation import VALIDATOR_MAP_OVERRIDES
from mockserver.spec import schemas
from mockserver.store.backend import StoreBackend, StoreUnavailable
from mockserver.store.memory import Conflict, NotFound, Store, StoreError, Unprocessable
from mockserver.store.persistence import StateFile

log = logging.getLogger("mockserver")

SWAGGER_UI_PATH = "/ui"
STATUS_OF = {NotFound: 404, Conflict: 409, Unprocessable: 422, Forbidden: 403, StoreError: 400}


@dataclass(frozen=True)
class ServerOptions:
    """How the app behaves; every field has the default the CLI uses."""

    any_token: bool = False
    max_body_bytes: int = 1024 * 1024
    max_target_bytes: int = 16 * 1024
    swagger_ui: bool = True
    # Front-end features (mockserver.app.pipeline): CORS, admin API, Prefer and chaos, sessions, journal.
    cors: bool = True
    cors_origins: tuple[str, ...] = ()  # besides any localhost / 127.0.0.1 / [::1] origin
    admin_token: str | None = None  # None: no admin API (the CLI always sets one)
    chaos: ChaosOptions = ChaosOptions()  # off
    session_ttl: float = DEFAULT_TTL_SECONDS
    max_sessions: int = DEFAULT_MAX_SESSIONS
    journal_size: int = journal.DEFAULT_SIZE  # 0: no journal
    allowed_hosts: tuple[str, ...] | None = None  # Host names besides loopback and IPs (None: no Host check)


@dataclass(frozen=True)
class Fake:
    """One built fake: everything that serves it, tests it or acts on it needs, typed."""

    app: connexion.FlaskApp  # the ASGI app: every layer of mockserver.app.pipeline inside the HTTP server's
    store: Store
    identity: Instance  # the runners' handshake (mockserver.server.identity)
    control: Control  # what the admin API and --watch act on
    options: ServerOptions
    state: StateFile | None = None  # --state-file: the answers wait for it (DurableAnswers)

    @property
    def chaos(self) -> list[str]:
        """The banner's lines describing the chaos settings (empty when chaos is off)."""
        return list(self.control.chaos)


def build_app(store: StoreBackend | dict, options: ServerOptions | None = None, *, spec_path: str | Path | None = None,
              state: StateFile | None = None, embedder: Callable[[Any], Any] | None = None) -> Fake:
    """The fake over ``store`` (or over a fresh store holding ``store``, a loaded fixture document: how the
    checkers that run a fake of their own build one without reaching into the store). ``state``: a
    deferred state file the answers wait for; ``embedder``: an ASGI wrapper (``embedder(app)``) that the
    embedding harness puts outside the fake (see mockserver.app.pipeline)."""
    options = options or ServerOptions()
    store = Store(store) if isinstance(store, dict) else store  # a seed document, or a built backend
    spec = schemas.load_spec(str(spec_path) if spec_path else None)
    parts = _parts(spec, store, options, state, embedder)

    hotpath.cache_handler_signatures()
    hotpath.cache_operation_lookups()
    app = connexion.FlaskApp(
        __name__,
        middlewares=pipeline.middlewares(parts),  # the whole stack, outermost first
        jsonifier=hotpath.JSONIFIER,
        validator_map=VALIDATOR_MAP_OVERRIDES,
        swagger_ui_options=SwaggerUIOptions(swagger_ui=options.swagger_ui, swagger_ui_path=SWAGGER_UI_PATH,
                                             swagger_ui_config={"persistAuthorization": True}),
    )
    app.add_api(
        copy.deepcopy(spec),
        resolver=RelativeResolver("mockserver.server.handlers.users"),
        validate_responses=False,
    )
    # The innermost layers (pipeline.INSIDE): Flask runs in the event loop, not on a thread pool, and the
    # Users API skips Flask (see mockserver.server.hotpath).
    bridge = app._middleware_app
    direct = hotpath.DirectOperations(users_handlers.OPERATION_IDS, STATUS_OF)
    bridge.asgi_app = hotpath.InlineWSGI(app.app.wsgi_app, fallback=bridge.asgi_app, direct=direct)
    app.add_error_handler(ProblemException, _connexion_problem)
    app.add_error_handler(HTTPException, _http_error)
    app.add_error_handler(Exception, _unexpected_error)
    app.add_error_handler(StoreUnavailable, unavailable.connexion_handler)
    for error_class in (StoreError, Forbidden):
        app.app.register_error_handler(error_class, _handler_error)
    return Fake(app=app, store=store, identity=parts.identity, control=parts.control, options=options, state=state)


def create_app(store: StoreBackend | dict, options: ServerOptions | None = None, *,
               spec_path: str | Path | None = None) -> connexion.FlaskApp:
    """The ASGI app of :func:`build_app` alone, for a caller that only sends it requests."""
    return build_app(store, options, spec_path=spec_path).app


def _parts(spec: dict[str, Any], store: Store, options: ServerOptions, state: StateFile | None,
           embedder: Callable[[Any], Any] | None) -> pipeline.Parts:
    """The state objects the layers are made of: the admin API's control, chaos, sessions, journal."""
    catalog = Catalog(spec)
    chaos = options.chaos
    fault_codes = catalog.check_fault_codes(chaos.error_codes) if chaos.error_rate > 0 else {}
    plan = ChaosPlan(chaos) if chaos.enabled else None
    shared = getattr(store, "shared", None)  # a shared backend's rules, journal, counters (mockserver.store.redis_shared)
    recent = Journal(options.journal_size, catalog.routes, shared=shared and shared.journal(options.journal_size)) \
        if options.journal_size > 0 else None
    sessions = Sessions(store, ttl=options.session_ttl, max_sessions=options.max_sessions)
    control = Control(store=store, sessions=sessions, journal=recent,
                      scenarios=Scenarios(catalog, shared=shared and shared.rules()))
    if plan is not None:
        control.chaos = _chaos_lines(chaos, plan, fault_codes)
    if options.admin_token:  # coverage counters for GET /__admin/coverage (mockserver.features.coverage_live)
        from mockserver.features.coverage_live import CoverageCounters

        control.coverage = CoverageCounters(spec, max_sessions=options.max_sessions,
                                            shared=shared and shared.coverage())
    live = LiveChaos(plan=plan, error_rate=chaos.error_rate, fault_codes=fault_codes)
    control.live_chaos = ChaosControl(catalog, live, chaos, control, shared=shared and shared.chaos())
    return pipeline.Parts(options=options, runtime=Runtime(store=store, any_token=options.any_token),
                          identity=Instance(admin_token=options.admin_token), control=control, catalog=catalog, live=live, fault_codes=fault_codes,
                          swagger_ui_path=SWAGGER_UI_PATH, state=state, embedder=embedder)


def _chaos_lines(chaos: ChaosOptions, plan: ChaosPlan, fault_codes: dict[str, list[int]]) -> list[str]:
    from dataclasses import replace

    return replace(chaos, seed=plan.seed).describe(fault_codes)


def _connexion_problem(_request, exc: ProblemException) -> ConnexionResponse:
    """Connexion's validation and security errors, in the project's problem shape."""
    headers = dict(exc.headers or {})
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    detail = exc.detail or exc.title or "request rejected"
    if exc.status == 401 and detail.startswith("Provided token is not valid"):
        detail = "the bearer token is not one this server knows"
    elif exc.status == 401 and detail.startswith("No authorization token provided"):
        detail = "no bearer token: send Authorization: Bearer <token>"
    return Problem.of(exc.status, detail, headers).connexion_response()


def _http_error(request, exc: HTTPException) -> ConnexionResponse:
    """Routing errors (no such path) in the problem shape, with a short detail."""
    detail = f"no operation at {request.url.path}" if exc.status_code == 404 else str(exc.detail)
    return Problem.of(exc.status_code, detail, dict(exc.headers or {})).connexion_response()


def _unexpected_error(_request, exc: Exception) -> ConnexionResponse:
    log.error("unexpected error while handling a request", exc_info=exc)
    return Problem.of(500, "the server failed to handle this request; the error is in its log").connexion_response()


def _handler_error(exc: Exception) -> flask.Response:
    status = next(code for cls, code in STATUS_OF.items() if isinstance(exc, cls))
    return Problem.of(status, str(exc)).flask_response()
