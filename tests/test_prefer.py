"""The ``Prefer`` request header (RFC 7240): forced documented answers and per-request delay."""

from __future__ import annotations

import time

import pytest
import yaml

from mockserver.app.build import ServerOptions, create_app
from mockserver.features import chaos
from mockserver.features.chaos import parse_prefer
from mockserver.spec import schemas
from mockserver.store.memory import Store
from tests.conftest import ADMIN, BIRCH, INTEGRATION, JANE, JANE_AUTH, ROOT, UNKNOWN_ID, user_url, users_url
from tests.support import assert_problem


def response_schema(operation_path: str, method: str, status: int, content_type: str) -> dict:
    spec = schemas.load_spec()
    response = spec["paths"][operation_path][method]["responses"][str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return schemas.to_json_schema(response["content"][content_type]["schema"], spec)


def assert_valid(body, schema):
    errors = list(schemas.validator(schema).iter_errors(body))
    assert not errors, [e.message for e in errors]


USER_PATH = "/api/v1/customers/{customerId}/users/{userId}"
LIST_PATH = "/api/v1/customers/{customerId}/users"


class TestForcedCodes:
    def test_a_documented_error_is_a_schema_valid_problem(self, client):
        response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "code=404"})
        body = assert_problem(response, 404, "Prefer: code=404")
        assert response.headers["preference-applied"] == "code=404"
        assert_valid(body, response_schema(USER_PATH, "get", 404, "application/problem+json"))

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 414, 415, 422])
    def test_every_documented_error_of_patch(self, client, status):
        response = client.patch(user_url(JANE), json={"firstName": "X"}, headers={**ADMIN, "Prefer": f"code={status}"})
        body = assert_problem(response, status)
        assert_valid(body, response_schema(USER_PATH, "patch", status, "application/problem+json"))

    def test_a_forced_401_says_how_to_authenticate(self, client):
        response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "code=401"})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"

    def test_a_forced_success_is_an_example_based_schema_valid_body(self, client):
        response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "code=200"})
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        body = response.json()
        assert_valid(body, response_schema(USER_PATH, "get", 200, "application/json"))
        assert body["email"] == "jane.doe@acme.example"  # the spec's example
        listed = client.get(f"{users_url()}?{INTEGRATION}", headers={**ADMIN, "Prefer": "code=200"})
        assert_valid(listed.json(), response_schema(LIST_PATH, "get", 200, "application/json"))
        identity = client.get(f"{users_url()}/lookup", headers={**ADMIN, "Prefer": "code=200"})
        assert identity.json() == {"type": "aderant", "value": "AD-1042", "customerId": "6500000000000000000001a1"}

    def test_an_undocumented_code_is_a_400_listing_the_documented_ones(self, client):
        response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "code=409"})
        assert_problem(response, 400, "code=409 is not documented for get_user", "200, 400, 401, 403, 404, 414, 500, 503")
        response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "code=418"})
        assert_problem(response, 400, "code=418 is not documented")

    @pytest.mark.parametrize("value", ["code=abc", "code=4044", "code=", "code=99"])
    def test_a_malformed_code_is_a_400(self, client, value):
        assert_problem(client.get(user_url(JANE), headers={**ADMIN, "Prefer": value}), 400, "Prefer: code=")

    def test_other_preferences_are_ignored(self, client):
        response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "return=minimal, respond-async"})
        assert response.status_code == 200 and response.json()["_id"] == JANE
        assert "preference-applied" not in response.headers


class TestForcingNeverBypassesTheGuards:
    def test_no_token_stays_401(self, client):
        assert_problem(client.get(user_url(JANE), headers={"Prefer": "code=200"}), 401)
        assert_problem(client.get(user_url(JANE), headers={"Authorization": "Bearer nope", "Prefer": "code=200"}), 401)

    def test_another_customers_token_stays_403(self, client):
        response = client.get(user_url(JANE, customer=BIRCH), headers={**JANE_AUTH, "Prefer": "code=200"})
        assert_problem(response, 403)

    def test_an_invalid_request_stays_400(self, client):
        assert_problem(client.get(users_url(), headers={**ADMIN, "Prefer": "code=200"}), 400, "integration")
        response = client.patch(user_url(JANE), json={"nope": 1}, headers={**ADMIN, "Prefer": "code=200"})
        assert_problem(response, 400, "nope")

    def test_a_405_stays_405(self, client):
        assert_problem(client.post(user_url(JANE), headers={**ADMIN, "Prefer": "code=200"}), 405)


class TestForcedAnswersChangeNothing:
    def test_patch_and_delete(self, client):
        before = client.get(user_url(JANE), headers=ADMIN).json()
        patched = client.patch(user_url(JANE), json={"firstName": "Changed"}, headers={**ADMIN, "Prefer": "code=200"})
        assert patched.status_code == 200
        assert client.delete(user_url(JANE), headers={**ADMIN, "Prefer": "code=200"}).status_code == 200
        assert client.delete(user_url(JANE), headers={**ADMIN, "Prefer": "code=404"}).status_code == 404
        assert client.get(user_url(JANE), headers=ADMIN).json() == before

    def test_unknown_user_forced_to_200(self, client):
        assert client.get(user_url(UNKNOWN_ID), headers={**ADMIN, "Prefer": "code=200"}).status_code == 200


class TestDelay:
    def test_delay_delays_that_answer(self, client):
        started = time.monotonic()
        response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "delay=300"})
        assert time.monotonic() - started >= 0.25  # at least the delay (no upper bound asserted)
        assert response.status_code == 200 and response.headers["preference-applied"] == "delay=300"

    def test_delay_and_code_together(self, client):
        started = time.monotonic()
        response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "code=404, delay=200"})
        assert time.monotonic() - started >= 0.15
        assert_problem(response, 404)
        assert response.headers["preference-applied"] == "delay=200, code=404"

    def test_separate_prefer_headers_combine(self, client):
        response = client.get(user_url(JANE), headers=[("Authorization", ADMIN["Authorization"]),
                                                       ("Prefer", "delay=1"), ("Prefer", "code=404")])
        assert response.status_code == 404

    def test_delays_are_capped(self, client, monkeypatch):
        monkeypatch.setattr(chaos, "MAX_DELAY_MS", 50)
        response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "delay=999999"})
        assert response.status_code == 200 and response.headers["preference-applied"] == "delay=50"

    def test_a_malformed_delay_is_a_400_after_authentication(self, client):
        assert_problem(client.get(user_url(JANE), headers={**ADMIN, "Prefer": "delay=soon"}), 400, "delay=")
        assert_problem(client.get(user_url(JANE), headers={"Prefer": "delay=soon"}), 401)

    def test_the_journal_notes_what_was_applied(self, seed):
        app = create_app(Store(seed), ServerOptions(admin_token="t"))
        with app.test_client() as client:
            client.get(user_url(JANE), headers={**ADMIN, "Prefer": "code=404, delay=10"})
            entry = client.get("/__admin/journal", headers={"Authorization": "Bearer t"}).json()["entries"][-1]
        assert entry["status"] == 404 and entry["notes"] == ["Prefer delay=10", "Prefer code=404"]


def test_a_documented_503_carries_retry_after(tmp_path, seed):
    """This contract documents no 503; a spec that does gets Retry-After on a forced one."""
    spec = yaml.safe_load((ROOT / "openapi" / "users.yaml").read_text())
    spec["paths"]["/api/v1/customers/{customerId}/users/{userId}"]["get"]["responses"]["503"] = {
        "description": "Unavailable", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    path = tmp_path / "users.yaml"
    path.write_text(yaml.safe_dump(spec))
    with create_app(Store(seed), spec_path=path).test_client() as client:
        response = client.get(user_url(JANE), headers={**ADMIN, "Prefer": "code=503"})
    assert_problem(response, 503)
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    "values,code,delay,problems",
    [
        (["code=404"], 404, None, 0),
        (['code="404"; foo=bar', "delay=10"], 404, 10, 0),
        (["Code = 500 , DELAY=5"], 500, 5, 0),
        (["respond-async, wait=100"], None, None, 0),
        (["code=abc"], None, None, 1),
        (["delay=-5"], None, None, 1),
    ],
)
def test_parse_prefer(values, code, delay, problems):
    prefs = parse_prefer(values)
    assert (prefs.code, prefs.delay_ms, len(prefs.problems)) == (code, delay, problems)
