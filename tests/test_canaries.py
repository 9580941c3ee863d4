"""Canaries: one test per library internal the project relies on, failing with a clear message when an
upgrade moves it. The libraries are pinned to the minor version these internals were read from
(``pyproject.toml``); a failure here says which pin to revisit and which module of ours to change."""

from __future__ import annotations

import importlib
import inspect

import pytest


def _require(module: str, name: str, user: str):
    try:
        target = importlib.import_module(module)
    except ImportError as error:  # pragma: no cover - only on a broken upgrade
        pytest.fail(f"{module} is gone ({error}); {user} relies on it: re-read the library and update {user}")
    if not hasattr(target, name):
        pytest.fail(f"{module}.{name} is gone; {user} relies on it: re-read the library and update {user}")
    return getattr(target, name)


def test_connexion_signature_inspection():
    """mockserver.server.hotpath caches Connexion's per-request signature inspection."""
    for module in ("connexion.decorators.parameter", "connexion.security"):
        function = _require(module, "inspect_function_arguments", "mockserver/server/hotpath.py")
        parameters = list(inspect.signature(function).parameters)
        assert parameters[:1] == ["function"], f"{module}.inspect_function_arguments now takes {parameters}"
        assert function(lambda a, b=1, **kw: None) == (["a", "b"], True)


def test_connexion_middleware_bridge(shared_store):
    """mockserver.app.build swaps the ASGI-to-WSGI bridge of Connexion's middleware app for the inline one."""
    from mockserver.app.build import create_app
    from mockserver.server import hotpath

    app = create_app(shared_store)
    bridge = getattr(app, "_middleware_app", None)
    assert bridge is not None, "connexion.FlaskApp._middleware_app is gone: update mockserver/app/build.py"
    assert isinstance(bridge.asgi_app, hotpath.InlineWSGI), "the inline bridge is no longer in place"


def test_a2wsgi_build_environ():
    """mockserver.server.hotpath builds the WSGI environ with a2wsgi's own function."""
    import io

    build_environ = _require("a2wsgi.wsgi", "build_environ", "mockserver/server/hotpath.py")
    scope = {"type": "http", "method": "GET", "path": "/x", "raw_path": b"/x", "query_string": b"a=1",
             "headers": [(b"host", b"127.0.0.1")], "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
             "scheme": "http", "root_path": "", "http_version": "1.1"}
    environ = build_environ(scope, io.BytesIO(b""))
    assert environ["PATH_INFO"] == "/x" and environ["QUERY_STRING"] == "a=1"


def test_connexion_parameter_code_for_direct_operations(shared_store):
    """mockserver.server.hotpath.DirectOperations answers the Users operations without Flask, with Connexion's
    own parameter code: prep_kwargs (reading path_params, query_params and mimetype of a request), the
    operation's URI parser, the routing scope extension naming the operation, and the context's operation."""
    user = "mockserver/server/hotpath.py"
    prep_kwargs = _require("connexion.decorators.parameter", "prep_kwargs", user)
    assert list(inspect.signature(prep_kwargs).parameters) == [
        "request", "request_body", "files", "arguments", "has_kwargs", "sanitize"], "prep_kwargs changed"
    for name in ("sanitized", "unwrap_decorators"):
        _require("connexion.decorators.parameter", name, user)
    _require("connexion.context", "operation", user)
    assert _require("connexion.middleware.routing", "ROUTING_CONTEXT", user) == "connexion_routing"
    from mockserver.app.build import create_app
    from tests.conftest import ACME, JANE, user_url

    calls = []
    app = create_app(shared_store)
    direct = app._middleware_app.asgi_app.direct
    original = direct.prepared
    direct.prepared = lambda operation: calls.append(operation) or original(operation)
    shared_store.reset()
    with app.test_client() as client:
        response = client.get(user_url(JANE), headers={"Authorization": "Bearer acme-admin-token"})
    assert response.status_code == 200 and response.json()["customer"]["_id"] == ACME
    assert len(calls) == 1, "the Users operation went through Flask, not DirectOperations: re-read connexion's routing"
    for attribute in ("function", "uri_parser_class", "parameters", "body_definition"):
        assert hasattr(calls[0], attribute), f"connexion's operation has no {attribute}: update {user}"


def test_connexion_default_middleware_stack():
    """mockserver.app.pipeline declares Connexion's default stack in its order, swapping its Swagger UI
    middleware for one that steps aside for /api/ paths (it keeps the next layer in ``app``)."""
    user = "mockserver/app/pipeline.py"
    main = _require("connexion.middleware.main", "ConnexionMiddleware", user)
    from connexion.middleware.response_validation import ResponseValidationMiddleware
    from connexion.middleware.swagger_ui import SwaggerUIMiddleware

    stack = main.default_middlewares
    assert SwaggerUIMiddleware in stack and ResponseValidationMiddleware in stack, f"the default stack is now {stack}"
    assert SwaggerUIMiddleware(app=object()).app is not None, "SwaggerUIMiddleware no longer keeps the next app in .app"


def test_connexion_routing_internals_for_spec_routing():
    """mockserver.server.hotpath.SpecRouting does what Connexion's RoutingMiddleware and Starlette's routers
    do for a matched route: the routing context variable, the router's mount, its routes' methods, string
    convertors and endpoints (Connexion's RoutingOperation, with the operation id)."""
    user = "mockserver/server/hotpath.py (SpecRouting)"
    from contextvars import ContextVar

    assert isinstance(_require("connexion.middleware.routing", "_scope", user), ContextVar)
    router_class = _require("starlette.routing", "Router", user)
    _require("starlette.routing", "Mount", user)
    _require("starlette.convertors", "StringConvertor", user)
    routing = _require("connexion.middleware.routing", "RoutingMiddleware", user)(app=object())
    assert isinstance(routing.router, router_class), "RoutingMiddleware no longer routes with a Starlette Router"
    assert routing.router.middleware_stack == routing.router.app, "a plain Starlette Router now has a middleware stack"
    route = _require("starlette.routing", "Route", user)("/a/{b}", endpoint=routing, methods=["GET"])
    assert route.methods == {"GET", "HEAD"} and route.app is routing and route.endpoint is routing
    assert set(route.param_convertors) == {"b"} and route.path == "/a/{b}"
    for name in ("matches", "handle"):
        assert hasattr(route, name), f"starlette's Route has no {name}: update {user}"
    operation = _require("connexion.middleware.routing", "RoutingOperation", user)
    assert "operation_id" in inspect.signature(operation.__init__).parameters


def test_connexion_operation_lookups_cached():
    """mockserver.server.hotpath.cache_operation_lookups wraps these two per-request lookups."""
    user = "mockserver/server/hotpath.py (cache_operation_lookups)"
    operation = _require("connexion.operations", "OpenAPIOperation", user)
    assert list(inspect.signature(operation.body_definition).parameters) == ["self", "content_type"]
    validation = _require("connexion.middleware.request_validation", "RequestValidationOperation", user)
    assert list(inspect.signature(validation.validate_mime_type).parameters) == ["self", "mime_type"]


def test_uvicorn_httptools_protocol():
    """mockserver.server.http_protocol subclasses uvicorn's httptools protocol and overrides these hooks."""
    protocol = _require("uvicorn.protocols.http.httptools_impl", "HttpToolsProtocol", "mockserver/server/http_protocol.py")
    for hook in ("data_received", "on_headers_complete", "on_message_complete", "send_400_response"):
        assert callable(getattr(protocol, hook, None)), f"HttpToolsProtocol.{hook} is gone: update mockserver/server/http_protocol.py"


def test_schemathesis_generation_internals():
    """mockserver/drift/sequence.py drives Schemathesis' generators directly."""
    user = "mockserver/drift/sequence.py"
    _require("schemathesis.core.result", "Ok", user)
    _require("schemathesis.generation", "overrides", user)
    _require("schemathesis.generation.coverage", "GenerationSession", user)
    _require("schemathesis.generation.drivers", "CoverageGenerator", user)
    _require("schemathesis.generation.drivers", "ExamplesGenerator", user)
    _require("schemathesis.generation.feedback", "FeedbackSources", user)
    _require("schemathesis.generation.hypothesis.reporting", "ignore_hypothesis_output", user)
    for name in ("HypothesisTestConfig", "HypothesisTestMode", "create_test"):
        _require("schemathesis.generation.hypothesis.builder", name, user)


def test_schemathesis_failure_and_checks():
    """mockserver/contract/checks.py subclasses Failure (its de-duplication key) and reads the check registry."""
    failure = _require("schemathesis.core.failures", "Failure", "mockserver/contract/checks.py")
    assert isinstance(inspect.getattr_static(failure, "_unique_key", None), property), (
        "schemathesis Failure._unique_key is no longer a property: update mockserver/contract/checks.py")
    _require("schemathesis.core.failures", "Severity", "mockserver/contract/checks.py")
    _require("schemathesis.checks", "CHECKS", "mockserver/contract/checks.py")


def test_every_imported_package_is_declared():
    """Every third-party package that ``mockserver/`` imports is a declared dependency (not a lucky extra)."""
    import ast
    import re
    import sys
    import tomllib
    from importlib.metadata import packages_distributions

    from tests.conftest import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
                for requirement in project["dependencies"]}
    distributions = packages_distributions()
    missing: dict[str, str] = {}
    for path in (ROOT / "mockserver").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".", 1)[0]
                if top in sys.stdlib_module_names or top in ("mockserver", "__future__", "pytest", "_pytest"):
                    continue
                owners = {owner.lower().replace("_", "-") for owner in distributions.get(top, [top])}
                if not owners & declared:
                    missing[top] = str(path.relative_to(ROOT))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_connexion_parameter_validation_from_a_scope():
    """mockserver.proxy.contract validates a proxied request's parameters with the fake's own validator:
    ``ParameterValidator(parameters, uri_parser).validate(scope)`` reading the path parameters from
    ``scope["path_params"]``, raising BadRequestProblem."""
    from connexion.exceptions import BadRequestProblem

    parser_class = _require("connexion.uri_parsing", "OpenAPIURIParser", "mockserver/proxy/contract.py")
    from mockserver.server.validation import SpecParameterValidator

    parameters = [{"name": "userId", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^a$"}},
                  {"name": "flag", "in": "query", "required": False, "schema": {"type": "boolean"}}]
    validator = SpecParameterValidator(parameters, uri_parser=parser_class(parameters, {}))
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"flag=true", "headers": [],
             "path_params": {"userId": "a"}}
    validator.validate(scope)
    with pytest.raises(BadRequestProblem, match="userId"):
        validator.validate({**scope, "path_params": {"userId": "b"}})
    with pytest.raises(BadRequestProblem, match="flag"):
        validator.validate({**scope, "query_string": b"flag=maybe"})
