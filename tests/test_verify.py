"""POST /__admin/verify: did the app send what it should have? Counts, sequences, sessions; 417 with the
closest near-misses and why each missed; 422 for a malformed verification, one line per problem."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.app.build import ServerOptions, create_app
from mockserver.store.memory import Store
from tests.conftest import JANE, JANE_AUTH, ROBERT, user_url, users_url
from tests.support import assert_problem

TOKEN = "verify-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TEMPLATE = "/api/v1/customers/{customerId}/users/{userId}"


@pytest.fixture
def vclient(seed):
    app = create_app(Store(seed), ServerOptions(admin_token=TOKEN, journal_size=100))
    with app.test_client() as client:
        yield client


@pytest.fixture(scope="module")
def one_client(seed_document):
    """One fake for every example of a property (a journal of 10 requests)."""
    app = create_app(Store(copy.deepcopy(seed_document)), ServerOptions(admin_token=TOKEN, journal_size=10))
    with app.test_client() as client:
        yield client


def verify(client, body, session: str | None = None):
    headers = {**AUTH, "Content-Type": "application/json", **({"X-Mock-Session": session} if session else {})}
    return client.post("/__admin/verify", content=json.dumps(body), headers=headers)


def patch_jane(client, body, **headers):
    return client.patch(user_url(JANE), json=body, headers={**JANE_AUTH, **headers})


def test_exactly_one_patch_with_this_body(vclient):
    assert patch_jane(vclient, {"jobTitle": "CTO", "nickname": "JJ"}).status_code == 200
    vclient.get(user_url(JANE), headers=JANE_AUTH)
    ok = verify(vclient, {"request": {"method": "PATCH", "path": TEMPLATE, "body": {"jobTitle": "CTO"}},
                          "times": {"exactly": 1}})
    assert ok.status_code == 200, ok.text
    result = ok.json()
    assert result["matched"] == 1 and result["expected"] == "exactly 1"
    assert result["requests"][0]["method"] == "PATCH" and "CTO" in result["requests"][0]["body"]
    # The same by operationId and by the literal path (a trailing slash ignored); GET by status.
    assert verify(vclient, {"request": {"operationId": "update_user_v1"}, "times": {"exactly": 1}}).status_code == 200
    assert verify(vclient, {"request": {"path": user_url(JANE) + "/", "method": "get", "status": 200}}).status_code == 200


def test_a_miss_names_the_closest_requests_and_why(vclient):
    patch_jane(vclient, {"jobTitle": "CFO"})
    vclient.get(user_url(ROBERT), headers=JANE_AUTH)
    failed = verify(vclient, {"request": {"method": "PATCH", "operationId": "update_user_v1",
                                          "body": {"jobTitle": "CTO"}}})
    problem = assert_problem(failed, 417, "expected at least 1", "found 0", "closest: #1", "jobTitle")
    first = problem["nearMisses"][0]
    assert first["request"]["id"] == 1
    assert first["differences"] == ['body.jobTitle: expected "CTO", got "CFO"']
    second = problem["nearMisses"][1]  # the GET differs in more fields
    assert any(line.startswith("method: expected PATCH, got GET") for line in second["differences"])
    assert problem["matched"] == 0 and problem["requests"] == []


def test_too_many_is_a_417_listing_them(vclient):
    for _ in range(3):
        vclient.get(user_url(JANE), headers=JANE_AUTH)
    problem = assert_problem(verify(vclient, {"request": {"operationId": "get_user"}, "times": {"atMost": 2}}),
                             417, "at most 2", "found 3")
    assert len(problem["requests"]) == 3 and problem["nearMisses"] == []
    ok = verify(vclient, {"request": {"operationId": "get_user"}, "times": {"atLeast": 2, "atMost": 3}})
    assert ok.status_code == 200 and ok.json()["expected"] == "from 2 to 3"
    none = verify(vclient, {"request": {"operationId": "delete_user"}, "times": {"exactly": 0}})
    assert none.status_code == 200 and none.json()["matched"] == 0


def test_a_sequence_in_order(vclient):
    vclient.get(user_url(JANE), headers=JANE_AUTH)
    patch_jane(vclient, {"jobTitle": "CTO"})
    vclient.get(users_url() + "?q=jane", headers=JANE_AUTH)
    steps = [{"operationId": "get_user"}, {"method": "PATCH", "body": {"jobTitle": "CTO"}},
             {"operationId": "list_users", "query": {"q": "jane"}}]
    ok = verify(vclient, {"sequence": steps})
    assert ok.status_code == 200, ok.text
    assert [r["id"] for r in ok.json()["requests"]] == [1, 2, 3]
    out_of_order = verify(vclient, {"sequence": [steps[1], steps[0]]})
    problem = assert_problem(out_of_order, 417, "step 2 of 2", "after #2", "out of order")
    assert problem["matchedSteps"] == 1
    wrong_query = verify(vclient, {"sequence": [{"operationId": "list_users", "query": {"q": "bob"}}]})
    miss = assert_problem(wrong_query, 417, "step 1 of 1")["nearMisses"][0]
    assert miss["differences"] == ['query q: expected "bob", got "jane"']


def test_each_session_verifies_its_own_requests(vclient):
    vclient.get(user_url(JANE), headers={**JANE_AUTH, "X-Mock-Session": "tab-1"})
    vclient.get(user_url(JANE), headers={**JANE_AUTH, "X-Mock-Session": "tab-2"})
    vclient.get(user_url(JANE), headers={**JANE_AUTH, "X-Mock-Session": "tab-2"})
    one = {"request": {"operationId": "get_user"}, "times": {"exactly": 1}}
    assert verify(vclient, one, session="tab-1").status_code == 200
    assert_problem(verify(vclient, one, session="tab-2"), 417, "found 2")
    # Without the header: only requests without a session; the closest miss says why.
    miss = assert_problem(verify(vclient, one), 417, "found 0")["nearMisses"][0]
    assert miss["differences"][0].startswith("session: expected none")
    assert verify(vclient, {"request": {"operationId": "get_user", "session": "*"}, "times": {"exactly": 3}}
                  ).status_code == 200
    assert verify(vclient, {"request": {"operationId": "get_user", "session": "tab-1"}}).status_code == 200


@pytest.mark.parametrize("body,fragments", [
    ({"request": {"methd": "GET"}}, ["unknown field 'methd'; did you mean method?"]),
    ({"request": {"operationId": "get_users"}}, ["not an operation of the Users API; did you mean get_user?"]),
    ({"request": {"method": "FETCH"}}, ['"FETCH" is not an HTTP method']),
    ({"request": {"path": "users"}}, ["is not a path"]),
    ({"request": {}, "times": {"exactly": -1}}, ["times.exactly: -1 is not a count"]),
    ({"request": {}, "times": {"exactly": 1, "atMost": 2}}, ["exactly, or atLeast and/or atMost"]),
    ({"request": {}, "times": {"atLeast": 3, "atMost": 2}}, ["atLeast 3 is more than atMost 2"]),
    ({"sequence": []}, ["a list of 1 to 50"]),
    ({}, ['give "request"']),
    ({"request": {}, "sequence": [{}]}, ['give "request"']),
    ([1], ["must be a JSON object"]),
    ({"sequence": [{"status": "200"}, {"query": 3}]}, ["sequence[0].status", "sequence[1].query"]),
])
def test_a_malformed_verification_is_a_422_listing_every_problem(vclient, body, fragments):
    problem = assert_problem(verify(vclient, body), 422, "the verification is malformed")
    lines = " | ".join(problem["problems"])
    for fragment in fragments:
        assert fragment in lines, lines


def test_not_json_and_wrong_media_type(vclient):
    assert_problem(vclient.post("/__admin/verify", content=b"{", headers={**AUTH, "Content-Type": "application/json"}),
                   400, "not JSON")
    assert_problem(vclient.post("/__admin/verify", content=b"{}", headers={**AUTH, "Content-Type": "text/plain"}), 415)
    assert_problem(vclient.post("/__admin/verify", json={"request": {}}), 401)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=10)
MATCHER = st.fixed_dictionaries({}, optional={
    "method": st.sampled_from(["GET", "PATCH", "x"]) | JSON, "path": st.sampled_from([TEMPLATE, "/", "a"]) | JSON,
    "operationId": st.sampled_from(["get_user", "nope"]) | JSON, "status": st.integers(0, 700) | JSON,
    "query": JSON, "body": JSON, "session": st.sampled_from([None, "*", "s"]) | JSON})


@settings(max_examples=60, deadline=None, derandomize=True)
@given(body=st.fixed_dictionaries({}, optional={"request": MATCHER, "times": JSON | st.fixed_dictionaries(
    {}, optional={"exactly": st.integers(-1, 3), "atLeast": st.integers(-1, 3), "atMost": st.integers(-1, 3)}),
    "sequence": st.lists(MATCHER, max_size=3)}) | JSON)
def test_any_verification_is_answered_200_417_or_422(one_client, body):
    one_client.patch(user_url(JANE), json={"jobTitle": "CTO"}, headers=JANE_AUTH)
    response = verify(one_client, body)
    assert response.status_code in (200, 417, 422), response.text
    if response.status_code != 200:
        assert_problem(response, response.status_code)
