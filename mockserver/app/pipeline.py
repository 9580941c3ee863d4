"""Wiring of the front-end features around the Users API: journal, CORS, admin API, Prefer and chaos,
sessions. :func:`mockserver.app.build.create_app` calls :func:`add_outer` before its own middleware and
:func:`add_inner` after it. The resulting order, outermost first::

    Dashboard              /__admin/ui/ (the dashboard's files) and the HTML index at / for browsers
    JournalMiddleware      records every Users API request with its final status and duration
    CoverageMiddleware     counts every answer by operation and status, for GET /__admin/coverage
    MockCORSMiddleware     preflights answered here, Access-Control-* on every answer (errors too)
    AdminAPI               /__admin/... answered here (no chaos, sessions or body limit of the Users API)
    DelayMiddleware        Prefer: delay / --latency; draws the request's fault roll
    AttachRuntime          (app.py)
    RequestGuard           (app.py) 405 / OPTIONS / 413 / 414 / 415
    SessionMiddleware      X-Mock-Session -> the session's store
    ... Connexion: routing, security (401), validation (400) ...
    ForcedAnswers          Prefer: code=..., scenario rules and chaos faults, after auth and validation
    ... the operation (403 for another customer's token, then the store) ...
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from connexion.middleware import MiddlewarePosition

from mockserver.admin import PREFIX as ADMIN_PREFIX
from mockserver.admin import AdminAPI, Control
from mockserver.features.chaos import Catalog, ChaosPlan, DelayMiddleware, ForcedAnswers, LiveChaos
from mockserver.features.chaos_control import ChaosControl
from mockserver.features.cors import MockCORSMiddleware
from mockserver.features.journal import Journal, JournalMiddleware
from mockserver.features.scenarios import Scenarios
from mockserver.features.sessions import SessionMiddleware, Sessions
from mockserver.store.memory import Store


@dataclass
class Parts:
    control: Control
    catalog: Catalog
    plan: ChaosPlan | None
    fault_codes: dict[str, list[int]]
    admin_token: str | None


def add_outer(app, spec: dict[str, Any], store: Store, options, *, swagger_ui_path: str) -> Parts:
    catalog = Catalog(spec)
    chaos = options.chaos
    fault_codes = catalog.check_fault_codes(chaos.error_codes) if chaos.error_rate > 0 else {}
    plan = ChaosPlan(chaos) if chaos.enabled else None
    shared = getattr(store, "shared", None)  # a shared backend's rules and journal (mockserver.store.redis_shared)
    journal = Journal(options.journal_size, shared=shared and shared.journal(options.journal_size)) \
        if options.journal_size > 0 else None
    sessions = Sessions(store, ttl=options.session_ttl, max_sessions=options.max_sessions)
    control = Control(store=store, sessions=sessions, journal=journal,
                      scenarios=Scenarios(catalog, shared=shared and shared.rules()))
    if plan is not None:
        control.chaos = _chaos_lines(chaos, plan, fault_codes)

    if options.admin_token:  # outermost: the dashboard's files and the index at / are not journaled
        from mockserver.admin.dashboard import Dashboard

        app.add_middleware(Dashboard, position=MiddlewarePosition.BEFORE_EXCEPTION,
                           swagger_ui_path=swagger_ui_path if options.swagger_ui else None)
    skip = unrecorded_paths(swagger_ui_path)
    if journal is not None:
        app.add_middleware(JournalMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, journal=journal, skip=skip)
    if options.admin_token:  # coverage counters for GET /__admin/coverage (mockserver.features.coverage_live)
        from mockserver.features.coverage_live import CoverageCounters, CoverageMiddleware

        control.coverage = CoverageCounters(spec, max_sessions=options.max_sessions,
                                            shared=shared and shared.coverage())
        app.add_middleware(CoverageMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                           counters=control.coverage, skip=skip)
    if options.cors:
        app.add_middleware(MockCORSMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                           origins=tuple(options.cors_origins))
    if options.admin_token:
        app.add_middleware(AdminAPI, position=MiddlewarePosition.BEFORE_EXCEPTION, control=control,
                           token=options.admin_token)
    live = LiveChaos(plan=plan, error_rate=chaos.error_rate, fault_codes=fault_codes)
    control.live_chaos = ChaosControl(catalog, live, chaos, control, shared=shared and shared.chaos())
    app.add_middleware(DelayMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, catalog=catalog, plan=plan,
                       live=live)
    return Parts(control, catalog, plan, fault_codes, options.admin_token)


def add_inner(app, parts: Parts, options) -> None:
    app.add_middleware(SessionMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION, sessions=parts.control.sessions,
                       applies_to=parts.catalog.owns)
    app.add_middleware(ForcedAnswers, position=MiddlewarePosition.BEFORE_CONTEXT, catalog=parts.catalog,
                       error_rate=options.chaos.error_rate, fault_codes=parts.fault_codes,
                       scenarios=parts.control.scenarios if parts.admin_token else None,
                       live=parts.control.live_chaos.live)


def unrecorded_paths(swagger_ui_path: str) -> tuple[str, ...]:
    """The path prefixes that are not Users API traffic: the admin API, Swagger UI, the spec itself."""
    return ADMIN_PREFIX, swagger_ui_path, "/openapi.json", "/openapi.yaml"


def new_admin_token() -> str:
    return "admin-" + secrets.token_urlsafe(12)


def _chaos_lines(chaos, plan: ChaosPlan, fault_codes: dict[str, list[int]]) -> list[str]:
    from dataclasses import replace

    return replace(chaos, seed=plan.seed).describe(fault_codes)
