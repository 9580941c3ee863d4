"""Per request, each done once: the path matched (mockserver.spec.routes.RouteTable.matched), the body read
and parsed, the token's access to the customer decided. Connexion's routing taken from the kept match
(mockserver.server.hotpath.SpecRouting) picks the operation Starlette's routers pick, with the same scope,
for any path and method."""

from __future__ import annotations

import asyncio
import copy

from connexion.middleware.routing import RoutingMiddleware
from connexion.resolver import RelativeResolver
from connexion.spec import Specification
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.app.build import ServerOptions, build_app
from mockserver.server.hotpath import SpecRouting
from mockserver.spec.routes import ROUTE_KEY, RouteTable
from mockserver.spec.schemas import load_spec
from mockserver.store.memory import Store
from tests.conftest import ACME, JANE, JANE_AUTH, user_url, users_url

SPEC = load_spec(None)
HANDLERS = "mockserver.server.handlers.users"
METHODS = ("GET", "HEAD", "PATCH", "DELETE", "POST", "PUT")


class Recorder:
    """The next layer: keeps the scope it was handed."""

    def __init__(self):
        self.scopes: list[dict] = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)


def routers(spec: dict) -> tuple[RoutingMiddleware, Recorder, SpecRouting, Recorder]:
    plain_next, ours_next = Recorder(), Recorder()
    plain, ours = RoutingMiddleware(plain_next), SpecRouting(ours_next)
    for middleware in (plain, ours):
        middleware.add_api(Specification.load(copy.deepcopy(spec)), resolver=RelativeResolver(HANDLERS))
    return plain, plain_next, ours, ours_next


def http_scope(method: str, path: str) -> dict:
    return {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": b"", "headers": [], "extensions": {}}


def route(middleware, recorder: Recorder, scope: dict) -> tuple[dict, dict | None, list[dict]]:
    """(the scope after routing, the scope the next layer got or None, what was sent instead)."""
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    recorder.scopes.clear()
    asyncio.run(middleware(scope, receive, send))
    return scope, (recorder.scopes[0] if recorder.scopes else None), sent


def comparable(scope: dict | None, middleware) -> dict | None:
    """A scope with the routers' own objects named by what they are, so two routers' scopes compare."""
    if scope is None:
        return None
    shown = {}
    for key, value in scope.items():
        if key == ROUTE_KEY:
            continue
        if key == "router":
            value = "own router" if value is middleware.router else value
        elif key == "route":
            value = (type(value).__name__, value.path, sorted(getattr(value, "methods", None) or ()))
        elif key == "endpoint":
            value = (type(value).__name__, getattr(value, "operation_id", None))
        shown[key] = value
    return shown


def assert_same_routing(spec: dict, table: RouteTable, method: str, path: str, routing=None) -> None:
    plain, plain_next, ours, ours_next = routing or routers(spec)
    scope = http_scope(method, path)
    table.matched(scope)  # what the request guard keeps in the scope
    before = copy.copy(scope)
    plain_after, plain_got, plain_sent = route(plain, plain_next, copy.deepcopy(before))
    ours_after, ours_got, ours_sent = route(ours, ours_next, copy.deepcopy(before))
    assert comparable(ours_got, ours) == comparable(plain_got, plain), (method, path)
    assert comparable(ours_after, ours) == comparable(plain_after, plain), (method, path)
    assert ours_sent == plain_sent, (method, path)


USERS_ROUTING = routers(SPEC)
USERS_TABLE = RouteTable(SPEC)
SEGMENTS = st.sampled_from(["api", "v1", "v2", "customers", ACME, "users", "lookup", JANE, "x", "%20", "é", ""])


@settings(deadline=None, max_examples=300, derandomize=True, suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(METHODS), segments=st.lists(SEGMENTS, max_size=7), slash=st.booleans(),
       known=st.sampled_from([None, *[r.template for r in USERS_TABLE.routes]]))
def test_routing_by_the_kept_match_is_starlettes_routing(method, segments, slash, known):
    if known is not None:  # a path of a spec route, with its parameters filled in
        segments = [ACME if s == "{customerId}" else JANE if s == "{userId}" else s for s in known.split("/")[1:]]
    path = "/" + "/".join(segments) + ("/" if slash else "")
    assert_same_routing(SPEC, USERS_TABLE, method, path, USERS_ROUTING)


def test_a_route_starlette_would_not_pick_is_left_to_starlette():
    # Starlette takes routes in the spec's order, the table literal segments first: for /a/b the
    # first route wins in Starlette, the second in the table. SpecRouting must not take the table's word.
    def operation(operation_id: str, *names: str) -> dict:
        parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names]
        return {"get": {"operationId": operation_id, "parameters": parameters,
                        "responses": {"200": {"description": "ok"}}}}

    spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {
        "/customers/{customerId}/users/{userId}": operation("get_user", "customerId", "userId"),
        "/customers/{customerId}/users/lookup": operation("lookup_user_identity", "customerId"),
    }}
    table = RouteTable(spec)
    assert table.match("/customers/a/users/lookup").template.endswith("/lookup")  # the table's pick
    _plain, _plain_next, ours, ours_next = routing = routers(spec)
    for method, path in (("GET", "/customers/a/users/lookup"), ("GET", "/customers/a/users/b"),
                         ("HEAD", "/customers/a/users/b")):
        assert_same_routing(spec, table, method, path, routing)
    scope = http_scope("GET", "/customers/a/users/lookup")
    table.matched(scope)
    _after, got, _sent = route(ours, ours_next, scope)
    assert got["extensions"]["connexion_routing"]["operation_id"].endswith(".get_user")  # Starlette's pick


def test_a_request_matches_its_path_once(seed_document, monkeypatch):
    lookups = []
    real_lookup = RouteTable.lookup

    def counted(self, path):
        lookups.append(path)
        return real_lookup(self, path)

    monkeypatch.setattr(RouteTable, "lookup", counted)
    fake = build_app(Store(seed_document), ServerOptions(admin_token="t"))
    with fake.app.test_client() as client:
        for method, url, body, extra in (
            ("GET", user_url(JANE), None, {}),
            ("GET", users_url() + "?integration=cloud-assistant-cdr", None,
             {"X-Mock-Session": "s1", "Prefer": "delay=0"}),
            ("PATCH", user_url(JANE), {"jobTitle": "Partner"}, {"X-Mock-Session": "s1", "Prefer": "delay=0"}),
        ):
            lookups.clear()
            answer = client.request(method, url, json=body, headers={**JANE_AUTH, **extra})
            assert answer.status_code == 200, answer.text
            assert lookups == [url.split("?")[0]], (method, url, lookups)


def test_a_patch_body_is_parsed_once_and_reaches_the_handler(seed_document, monkeypatch):
    import json

    from mockserver.server import validation

    parses = []
    real_loads = json.loads

    def counted(text, *args, **kwargs):
        parses.append(text)
        return real_loads(text, *args, **kwargs)

    fake = build_app(Store(seed_document), ServerOptions(admin_token="t"))
    with fake.app.test_client() as client:
        client.get(user_url(JANE), headers=JANE_AUTH)  # the stack built before counting
        monkeypatch.setattr(json, "loads", counted)
        answer = client.patch(user_url(JANE), json={"jobTitle": "Partner", "office": "Chicago"}, headers=JANE_AUTH)
        monkeypatch.undo()
    assert answer.status_code == 200
    assert (answer.json()["jobTitle"], answer.json()["office"]) == ("Partner", "Chicago")
    assert len(parses) == 1, parses
    assert validation.JSON_BODY_KEY  # the parsed body rides in the scope under this key


def test_customer_access_is_decided_once_when_a_forced_answer_is_possible(seed_document, monkeypatch):
    from mockserver.store.memory import Principal

    decisions = []
    real_may_access = Principal.may_access

    def counted(self, customer_id):
        decisions.append(customer_id)
        return real_may_access(self, customer_id)

    admin = {"Authorization": "Bearer t"}
    fake = build_app(Store(seed_document), ServerOptions(admin_token="t"))
    with fake.app.test_client() as client:
        # A rule for another operation: the forced-answers layer checks access, then the handler runs.
        assert client.post("/__admin/scenarios", json={"operationId": "delete_user", "status": 503},
                           headers=admin).status_code == 201
        monkeypatch.setattr(Principal, "may_access", counted)
        assert client.get(user_url(JANE), headers=JANE_AUTH).status_code == 200
        assert decisions == [ACME]
        decisions.clear()
        other = client.get(user_url(JANE, customer="6500000000000000000000b2"), headers=JANE_AUTH)
        assert other.status_code == 403 and decisions == ["6500000000000000000000b2"]
