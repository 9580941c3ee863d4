"""Build the ASGI app: the spec routed through Connexion onto a store. No state at import time.

``create_app(store, options)`` returns a :class:`connexion.FlaskApp`; serving it is the CLI's job.
The spec is the only router: every operation is resolved by ``operationId`` to
:mod:`mockserver.server.handlers.users`. This module is where errors become problem responses.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import connexion
import flask
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionResponse
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import RelativeResolver
from starlette.exceptions import HTTPException

from mockserver.app import pipeline as features
from mockserver.core.problems import Problem
from mockserver.features import journal
from mockserver.features.chaos import ChaosOptions
from mockserver.features.sessions import DEFAULT_MAX_SESSIONS, DEFAULT_TTL_SECONDS
from mockserver.server import hotpath
from mockserver.server.auth import Forbidden
from mockserver.server.handlers import users as users_handlers
from mockserver.server.last_resort import LastResort
from mockserver.server.middleware import AttachRuntime, RequestGuard
from mockserver.server.runtime import Runtime
from mockserver.server.validation import VALIDATOR_MAP_OVERRIDES
from mockserver.spec import schemas
from mockserver.store.memory import Conflict, NotFound, Store, StoreError, Unprocessable

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


def app_for_document(seed: dict, options: ServerOptions | None = None) -> connexion.FlaskApp:
    """The fake over a fresh in-memory store holding ``seed`` (a loaded fixture document): what the
    checkers that run a fake of their own (drift's oracle) build, without reaching into the store."""
    return create_app(Store(seed), options)


def create_app(store: Store, options: ServerOptions | None = None, *, spec_path: str | Path | None = None) -> connexion.FlaskApp:
    options = options or ServerOptions()
    spec = schemas.load_spec(str(spec_path) if spec_path else None)
    runtime = Runtime(store=store, any_token=options.any_token)

    hotpath.cache_handler_signatures()
    app = connexion.FlaskApp(
        __name__,
        middlewares=hotpath.connexion_middlewares(validate_responses=False),  # as add_api says below
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
    # Outermost of all: whatever escapes every other layer is a logged 500 problem.
    app.add_middleware(LastResort, position=MiddlewarePosition.BEFORE_EXCEPTION)
    # Next: the identity handshake the runners use to recognise this fake (mockserver.server.identity).
    from mockserver.server.identity import IdentityMiddleware, Instance

    app.mock_identity = Instance(admin_token=options.admin_token)
    app.add_middleware(IdentityMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, instance=app.mock_identity)
    parts = features.add_outer(app, spec, store, options, swagger_ui_path=SWAGGER_UI_PATH)
    # Outermost first: the runtime is attached before anything reads it; the guard answers what
    # no route owns (405, 413, 414, 415) before Connexion parses anything.
    app.add_middleware(AttachRuntime, position=MiddlewarePosition.BEFORE_EXCEPTION, runtime=runtime)
    app.add_middleware(
        RequestGuard,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        routes=parts.catalog.routes,  # the one route table of the spec (chaos and sessions use it too)
        max_body_bytes=options.max_body_bytes,
        max_target_bytes=options.max_target_bytes,
    )
    features.add_inner(app, parts, options)
    app.mock_control = parts.control  # the admin API's state, for the CLI (--watch) and tests
    # Flask runs in the event loop, not on a thread pool (see mockserver.server.hotpath).
    bridge = app._middleware_app
    direct = hotpath.DirectOperations(users_handlers.OPERATION_IDS, STATUS_OF)  # the Users API skips Flask
    bridge.asgi_app = hotpath.InlineWSGI(app.app.wsgi_app, fallback=bridge.asgi_app, direct=direct)
    app.add_error_handler(ProblemException, _connexion_problem)
    app.add_error_handler(HTTPException, _http_error)
    app.add_error_handler(Exception, _unexpected_error)
    for error_class in (StoreError, Forbidden):
        app.app.register_error_handler(error_class, _handler_error)
    return app


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
