"""The admin API under /__admin: token, reset, fixtures in and out, journal; and its own contract."""

from __future__ import annotations

import copy
import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from mockserver.admin import admin_spec
from mockserver.app.build import ServerOptions, create_app
from mockserver.fixtures.document import FixtureError
from mockserver.store.memory import Store
from tests.conftest import ACME, ADMIN, INTEGRATION, JANE, JANE_AUTH, ROBERT, user_url, users_url
from tests.support import assert_problem

TOKEN = "the-admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def admin_app(seed):
    return create_app(Store(seed), ServerOptions(admin_token=TOKEN, journal_size=50))


@pytest.fixture
def aclient(admin_app):
    with admin_app.test_client() as test_client:
        yield test_client


class TestToken:
    @pytest.mark.parametrize("method,path", [("GET", "/__admin/status"), ("POST", "/__admin/reset"),
                                             ("GET", "/__admin/fixtures"), ("PUT", "/__admin/fixtures"),
                                             ("GET", "/__admin/journal"), ("DELETE", "/__admin/journal"),
                                             ("GET", "/__admin/sessions"), ("DELETE", "/__admin/sessions/x")])
    @pytest.mark.parametrize("headers", [{}, ADMIN, {"Authorization": "Bearer wrong"},
                                         {"Authorization": f"Basic {TOKEN}"}])
    def test_every_route_needs_the_admin_token(self, aclient, method, path, headers):
        response = aclient.request(method, path, headers=headers)
        assert_problem(response, 401, "admin token")
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_the_spec_is_public(self, aclient):
        response = aclient.get("/__admin/openapi.json")
        assert response.status_code == 200 and response.json() == admin_spec()

    def test_no_admin_api_without_a_token_configured(self, client):
        assert_problem(client.get("/__admin/status", headers=AUTH), 404)

    def test_unknown_routes_and_methods(self, aclient):
        assert_problem(aclient.get("/__admin/nope", headers=AUTH), 404, "openapi.json")
        response = aclient.patch("/__admin/journal", headers=AUTH)
        assert_problem(response, 405)
        assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"

    def test_every_path_of_its_spec_is_routed_with_the_methods_the_spec_gives(self, aclient):
        """The spec is the router: each path answers its documented methods (never a 404 or 405),
        OPTIONS lists them (with HEAD beside GET), and a method it does not document is a 405
        problem naming the path template, as on the Users API."""
        methods = {"get", "put", "post", "delete", "patch"}
        for template, item in admin_spec()["paths"].items():
            path = "/__admin" + template.replace("{name}", "nobody").replace("{id}", "999")
            documented = {m.upper() for m in item if m in methods}
            allow = sorted(documented | {"OPTIONS"} | ({"HEAD"} if "GET" in documented else set()))
            options = aclient.options(path, headers=AUTH)
            assert (options.status_code, options.headers["allow"]) == (204, ", ".join(allow)), path
            for method in sorted(methods - {m.lower() for m in documented}):
                response = aclient.request(method.upper(), path, headers=AUTH)
                assert_problem(response, 405, f"{method.upper()} is not allowed on /__admin{template}")
                assert response.headers["allow"] == ", ".join(allow)
            if "GET" in documented:
                get, head = aclient.get(path, headers=AUTH), aclient.head(path, headers=AUTH)
                assert head.status_code == get.status_code and head.content == b""
                assert head.headers["content-length"] == get.headers["content-length"]

    def test_the_users_api_and_the_admin_api_answer_a_405_alike(self, aclient):
        users = aclient.post(user_url(JANE), headers=ADMIN)
        admin = aclient.post("/__admin/status", headers=AUTH)
        assert set(assert_problem(users, 405)) == set(assert_problem(admin, 405))
        assert users.headers["content-type"] == admin.headers["content-type"]


class TestReset:
    def test_reset_the_default_state(self, aclient):
        aclient.delete(user_url(JANE), headers=ADMIN)
        assert aclient.post("/__admin/reset", headers=AUTH).status_code == 204
        assert aclient.get(user_url(JANE), headers=ADMIN).status_code == 200

    def test_reset_of_the_default_state_leaves_sessions_alone(self, aclient):
        aclient.delete(user_url(JANE), headers={**ADMIN, "X-Mock-Session": "w"})
        aclient.post("/__admin/reset", headers=AUTH)
        assert aclient.get(user_url(JANE), headers={**ADMIN, "X-Mock-Session": "w"}).status_code == 404

    def test_a_bad_session_name(self, aclient):
        assert_problem(aclient.post("/__admin/reset", headers={**AUTH, "X-Mock-Session": "a b"}), 400, "session name")


class TestExport:
    def test_export_is_the_current_state_as_a_loadable_fixture(self, aclient, loader, tmp_path):
        aclient.patch(user_url(JANE), json={"firstName": "Janet"}, headers=ADMIN)
        aclient.delete(user_url(ROBERT), headers=ADMIN)
        response = aclient.get("/__admin/fixtures", headers=AUTH)
        assert response.status_code == 200
        assert response.headers["content-disposition"] == 'attachment; filename="mockserver-default-state.json"'
        path = tmp_path / "exported.json"
        path.write_bytes(response.content)
        document = loader.load_files([path])  # a valid fixture file
        users = {u["_id"]: u for u in document["customers"][0]["users"]}
        assert users[JANE]["firstName"] == "Janet" and ROBERT not in users

    def test_export_a_session(self, aclient):
        aclient.delete(user_url(JANE), headers={**ADMIN, "X-Mock-Session": "w"})
        session = aclient.get("/__admin/fixtures", headers={**AUTH, "X-Mock-Session": "w"}).json()
        default = aclient.get("/__admin/fixtures", headers=AUTH).json()
        unused = aclient.get("/__admin/fixtures", headers={**AUTH, "X-Mock-Session": "never-used"}).json()
        assert JANE not in {u["_id"] for u in session["customers"][0]["users"]}
        assert JANE in {u["_id"] for u in default["customers"][0]["users"]}
        assert unused == default


class TestLoad:
    def test_replace_with_a_valid_document(self, aclient, seed):
        smaller = {"customers": seed["customers"][:1], "tokens": [t for t in seed["tokens"] if t["customerIds"] == [ACME]]}
        smaller["customers"][0]["users"][0]["firstName"] = "Replaced"
        response = aclient.put("/__admin/fixtures", json=smaller, headers=AUTH)
        assert response.status_code == 200, response.text
        assert response.json() == {"customers": 1, "users": len(smaller["customers"][0]["users"]),
                                   "tokens": len(smaller["tokens"])}
        first = smaller["customers"][0]["users"][0]["_id"]
        assert aclient.get(user_url(first), headers=ADMIN).json()["firstName"] == "Replaced"
        assert_problem(aclient.get(users_url("6500000000000000000000b2") + f"?{INTEGRATION}",
                                   headers={"Authorization": "Bearer birch-admin-token"}), 401)
        # It is the seed now: a reset goes back to it, not to the start-up fixtures.
        aclient.delete(user_url(first), headers=ADMIN)
        aclient.post("/__admin/reset", headers=AUTH)
        assert aclient.get(user_url(first), headers=ADMIN).json()["firstName"] == "Replaced"
        status = aclient.get("/__admin/status", headers=AUTH).json()
        assert status["seed"]["source"].startswith("admin API (PUT")

    def test_invalid_documents_get_the_same_problems_as_files(self, aclient, seed, loader, write_json):
        bad = copy.deepcopy(seed)
        bad["customers"][0]["users"][0]["email"] = "nope"
        bad["customers"][0]["users"][1]["roleIds"] = ["6500000000000000000009ff"]
        bad["tokens"][0]["customerIds"] = ["6500000000000000000008ff"]
        response = aclient.put("/__admin/fixtures", json=bad, headers=AUTH)
        body = assert_problem(response, 422, "the fixtures are not valid", "(and 2 more; see 'problems')")
        path = write_json("bad.json", bad)
        with pytest.raises(FixtureError) as from_file:
            loader.load_files([path])
        assert body["problems"] == [p.replace(f"{path}:", "<body>:", 1) for p in from_file.value.problems]
        assert len(body["problems"]) == 3
        assert aclient.get(user_url(JANE), headers=ADMIN).status_code == 200  # nothing changed

    def test_not_json(self, aclient, loader, write_json):
        response = aclient.put("/__admin/fixtures", content=b'{"customers": [}', headers={**AUTH, "Content-Type": "application/json"})
        body = assert_problem(response, 400, "line 1 column 16")
        path = write_json("bad.json", '{"customers": [}')
        with pytest.raises(FixtureError) as from_file:
            loader.load_files([path])
        assert body["problems"] == [p.replace(f"{path}:", "<body>:", 1) for p in from_file.value.problems]
        duplicate = aclient.put("/__admin/fixtures", content=b'{"customers": [], "customers": []}',
                                headers={**AUTH, "Content-Type": "application/json"})
        assert_problem(duplicate, 400, "duplicate key 'customers'")

    def test_media_type_and_session(self, aclient, seed):
        assert_problem(aclient.put("/__admin/fixtures", content=json.dumps(seed), headers={**AUTH, "Content-Type": "text/plain"}), 415)
        response = aclient.put("/__admin/fixtures", json=seed, headers={**AUTH, "X-Mock-Session": "w"})
        assert_problem(response, 400, "shared by every session")

    def test_load_adds_to_the_seed(self, aclient, seed):
        extra_customer = copy.deepcopy(seed["customers"][0])
        extra_customer["_id"] = "6500000000000000000000c3"
        extra_customer["fullName"] = "Cedar LLP"
        for index, user in enumerate(extra_customer["users"]):
            user["_id"] = f"65000000000000000000{index:04x}"[:24].ljust(24, "c")
        ids = {old["_id"]: new["_id"] for old, new in zip(seed["customers"][0]["users"], extra_customer["users"], strict=True)}
        for user in extra_customer["users"]:
            user["delegateIds"] = [ids[d] for d in user.get("delegateIds", [])]
        body = {"customers": [extra_customer], "tokens": [{"token": "cedar-token", "customerIds": ["6500000000000000000000c3"]}]}
        response = aclient.post("/__admin/fixtures", json=body, headers=AUTH)
        assert response.status_code == 200, response.text
        assert response.json()["customers"] == 3
        cedar = aclient.get(users_url("6500000000000000000000c3") + f"?{INTEGRATION}", headers={"Authorization": "Bearer cedar-token"})
        assert cedar.status_code == 200 and len(cedar.json()) == len(extra_customer["users"])
        assert aclient.get(user_url(JANE), headers=ADMIN).status_code == 200  # still there

    def test_load_reports_clashes_with_the_seed(self, aclient, seed):
        response = aclient.post("/__admin/fixtures", json={"customers": seed["customers"][:1]}, headers=AUTH)
        body = assert_problem(response, 422)
        assert any("<body>: $.customers[0]._id: duplicate customer id" in p for p in body["problems"])


class TestJournal:
    def test_requests_are_recorded_with_the_token_masked(self, aclient):
        aclient.get(user_url(JANE), headers={**JANE_AUTH, "X-Mock-Session": "w1"})
        aclient.get(f"{users_url()}?{INTEGRATION}&search=doe", headers=ADMIN)
        aclient.get(user_url(JANE))
        response = aclient.get("/__admin/journal", headers=AUTH)
        assert response.status_code == 200
        journal = response.json()
        assert journal["capacity"] == 50
        first, second, third = journal["entries"][-3:]
        assert first["method"] == "GET" and first["path"] == user_url(JANE) and first["status"] == 200
        assert first["session"] == "w1" and first["authorization"] == "Bearer jane…"
        assert second["query"] == f"{INTEGRATION}&search=doe" and second["authorization"] == "Bearer acme…"
        assert third["status"] == 401 and third["authorization"] is None
        assert all(entry["durationMs"] >= 0 and entry["timestamp"].endswith("Z") for entry in journal["entries"])
        assert "jane-token" not in response.text and "acme-admin-token" not in response.text
        assert TOKEN not in response.text

    def test_the_admin_api_and_swagger_ui_are_not_recorded(self, aclient):
        aclient.get("/__admin/status", headers=AUTH)
        aclient.get("/openapi.json")
        aclient.get("/ui/")
        assert aclient.get("/__admin/journal", headers=AUTH).json()["entries"] == []

    def test_only_the_last_n_are_kept_and_limit(self, aclient):
        for _ in range(60):
            aclient.get(user_url(JANE), headers=ADMIN)
        entries = aclient.get("/__admin/journal", headers=AUTH).json()["entries"]
        assert len(entries) == 50 and entries[-1]["id"] == 60
        limited = aclient.get("/__admin/journal?limit=5", headers=AUTH).json()["entries"]
        assert [e["id"] for e in limited] == [56, 57, 58, 59, 60]
        assert_problem(aclient.get("/__admin/journal?limit=0", headers=AUTH), 400, "limit")
        assert_problem(aclient.get("/__admin/journal?limit=x", headers=AUTH), 400, "limit")

    def test_clear(self, aclient):
        aclient.get(user_url(JANE), headers=ADMIN)
        assert aclient.delete("/__admin/journal", headers=AUTH).status_code == 204
        assert aclient.get("/__admin/journal", headers=AUTH).json()["entries"] == []

    def test_preflights_and_guard_answers_are_recorded(self, aclient):
        aclient.options(user_url(JANE), headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "PATCH"})
        aclient.post(user_url(JANE), headers=ADMIN)
        entries = aclient.get("/__admin/journal", headers=AUTH).json()["entries"]
        assert [(e["method"], e["status"]) for e in entries] == [("OPTIONS", 200), ("POST", 405)]


@pytest.mark.parametrize(
    "value,masked",
    [("Bearer acme-admin-token", "Bearer acme…"), ("Bearer shorty", "Bearer sh…"), ("Bearer abc", "Bearer …"),
     ("Basic dXNlcjpwYXNzd29yZA==", "Basic dXNl…"), ("rawtokenwithoutscheme", "rawt…"), ("Bearer ", "Bearer")],
)
def test_mask_authorization(value, masked):
    from mockserver.features.journal import mask_authorization

    assert mask_authorization(value) == masked


# -- the admin API passes its own contract -------------------------------------------------------


@pytest.fixture
def admin_schema(seed):
    app = create_app(Store(seed), ServerOptions(admin_token=TOKEN))
    from schemathesis.config import SchemathesisConfig

    config = SchemathesisConfig.from_dict({
        "auth": {"openapi": {"adminToken": {"bearer": TOKEN}}},
        "seed": 20261129,
        "generation": {"max-examples": 25},
        # A schema-valid document may still break the fixture rules the spec cannot express (unique ids,
        # references that resolve): 422 is the documented answer, as in contract/schemathesis.toml.
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422"]}},
        # Which statuses a scenario rule may force depends on its operation (a schema cannot say so):
        # an undocumented one is the documented 400.
        # Likewise a schema-valid chaos setting may name a code no operation documents, or order MIN > MAX.
        "operations": [{"include-operation-id": op, "checks": {"positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "409"]}}} for op in ("admin_add_scenario", "admin_put_chaos")]
        # A schema-valid verification may not be met (417) or name an operation the Users API lacks (422).
        + [{"include-operation-id": "admin_verify", "checks": {"positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "417", "422"]}}}],
    })
    return schemathesis.openapi.from_asgi("/__admin/openapi.json", app, config=config)


admin_contract = schemathesis.pytest.from_fixture("admin_schema")


@pytest.mark.slow
@admin_contract.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=25, derandomize=True)
def test_the_admin_api_passes_its_own_contract(case):
    case.call_and_validate()


def test_an_admin_api_of_other_operations_is_routed_by_its_own_spec(seed):
    """An AdminAPI subclass with a spec of some of these operations and its own: only those paths,
    its own handlers by operationId, the same token check, 404 and 405."""
    from starlette.testclient import TestClient

    from mockserver.admin.api import AdminAPI, Reply, spec_with
    from mockserver.features.journal import Journal

    hello = {"get": {"operationId": "say_hello", "responses": {"200": {"description": "hello"}}}}

    class Greeter(AdminAPI):
        async def say_hello(self, request) -> Reply:
            return Reply(200, {"hello": "world"})

    async def nothing_else(scope, receive, send):
        raise AssertionError("nothing under /__admin is passed on")

    control = type("Control", (), {"journal": Journal(5)})()
    api = Greeter(nothing_else, control=control, token=TOKEN, spec=spec_with(("/journal",), {"/hello": hello}))
    client = TestClient(api)
    assert client.get("/__admin/hello", headers=AUTH).json() == {"hello": "world"}
    assert_problem(client.get("/__admin/hello"), 401, "admin token")
    assert client.get("/__admin/journal", headers=AUTH).json() == {"capacity": 5, "entries": []}
    assert_problem(client.get("/__admin/status", headers=AUTH), 404)
    assert_problem(client.delete("/__admin/hello", headers=AUTH), 405)
