"""Each operation over HTTP, through the spec: the behaviour the README promises."""

from __future__ import annotations

import pytest

from tests.conftest import (
    ACME,
    ADMIN,
    BIRCH,
    INTEGRATION,
    JANE,
    JANE_AUTH,
    MARIA,
    ROBERT,
    UNKNOWN_ID,
    user_url,
    users_url,
)
from tests.support import assert_problem


class TestList:
    def test_lists_users_in_id_order(self, client):
        response = client.get(f"{users_url()}?{INTEGRATION}", headers=ADMIN)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        ids = [u["_id"] for u in response.json()]
        assert len(ids) >= 25 and ids == sorted(ids)

    @pytest.mark.parametrize("search", ["jane doe", "Jane  DOE", "doe jane", "jane.doe@acme"])
    def test_search(self, client, search):
        response = client.get(users_url(), params={"integration": "cloud-assistant-cdr", "search": search}, headers=ADMIN)
        assert [u["_id"] for u in response.json()] == [JANE]

    def test_search_by_nickname(self, client):
        response = client.get(users_url(), params={"integration": "cloud-assistant-cdr", "search": "bobby"}, headers=ADMIN)
        assert ROBERT in [u["_id"] for u in response.json()]

    def test_search_without_match_is_an_empty_list(self, client):
        response = client.get(users_url(), params={"integration": "cloud-assistant-cdr", "search": "zzzz"}, headers=ADMIN)
        assert response.status_code == 200 and response.json() == []

    def test_integration_is_required(self, client):
        assert_problem(client.get(users_url(), headers=ADMIN), 400, "missing required query parameter 'integration'")

    def test_integration_is_validated(self, client):
        assert_problem(client.get(f"{users_url()}?integration=other", headers=ADMIN), 400, "'integration'", "'other'")

    def test_bad_customer_id(self, client):
        assert_problem(client.get(f"{users_url('nope')}?{INTEGRATION}", headers=ADMIN), 400, "customerId", "ObjectId")


class TestLookup:
    def test_identity_of_the_tokens_user(self, client):
        response = client.get(f"{users_url()}/lookup", headers=JANE_AUTH)
        assert response.status_code == 200
        assert response.json() == {"type": "aderant", "value": "AD-1042", "customerId": ACME}

    def test_token_without_user(self, client):
        assert_problem(client.get(f"{users_url()}/lookup", headers=ADMIN), 404, "not bound to a user")

    def test_user_without_identity(self, client):
        response = client.get(f"{users_url()}/lookup", headers={"Authorization": "Bearer maria-token"})
        assert_problem(response, 404, MARIA, "no external identity")

    def test_deleted_user(self, client):
        client.delete(user_url(JANE), headers=ADMIN)
        assert_problem(client.get(f"{users_url()}/lookup", headers=JANE_AUTH), 404)


class TestGet:
    def test_get_user(self, client):
        response = client.get(user_url(JANE), headers=ADMIN)
        assert response.status_code == 200
        user = response.json()
        assert user["_id"] == JANE and user["email"] == "jane.doe@acme.example"
        assert user["createdAt"] == "2022-08-12T20:44:48Z"

    def test_unknown_user(self, client):
        assert_problem(client.get(user_url(UNKNOWN_ID), headers=ADMIN), 404, UNKNOWN_ID)

    def test_user_of_another_customer_is_404_in_this_one(self, client):
        birch_user = client.get(f"{users_url(BIRCH)}?{INTEGRATION}", headers={"Authorization": "Bearer birch-admin-token"}).json()[0]["_id"]
        multi = {"Authorization": "Bearer multi-admin-token"}
        assert client.get(user_url(birch_user, BIRCH), headers=multi).status_code == 200
        assert_problem(client.get(user_url(birch_user, ACME), headers=multi), 404)

    def test_bad_user_id(self, client):
        assert_problem(client.get(user_url("ABCDEF000000000000000000"), headers=ADMIN), 400, "userId", "ObjectId")


@pytest.mark.parametrize("version", ["v1", "v2"])
class TestPatch:
    def test_only_sent_fields_change_and_persist(self, client, version):
        before = client.get(user_url(JANE), headers=ADMIN).json()
        response = client.patch(user_url(JANE, version=version), json={"jobTitle": "Counsel", "pod": "Pod 9"}, headers=ADMIN)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        after = response.json()
        assert {k for k in after if after[k] != before.get(k)} == {"jobTitle", "pod", "updatedAt"}
        assert after["createdAt"] == before["createdAt"]
        assert after["updatedAt"] > before["updatedAt"]
        assert client.get(user_url(JANE), headers=ADMIN).json() == after
        listed = client.get(users_url(), params={"integration": "cloud-assistant-cdr", "search": "jane"}, headers=ADMIN).json()
        assert listed[0]["jobTitle"] == "Counsel"

    def test_every_updatable_field(self, client, version):
        changes = {
            "firstName": "Janet", "lastName": "Doe-Smith", "email": "janet@acme.example", "jobTitle": "Partner",
            "nickname": "JD", "seniority": "Partner", "department": "Corporate", "office": "London",
            "subdepartment": "M&A", "pod": "Pod 1", "roleIds": ["6500000000000000000003a2"],
        }
        after = client.patch(user_url(JANE, version=version), json=changes, headers=ADMIN).json()
        assert {k: after[k] for k in changes if k != "roleIds"} == {k: v for k, v in changes.items() if k != "roleIds"}
        assert [r["_id"] for r in after["roles"]] == changes["roleIds"]

    def test_empty_nickname_is_allowed(self, client, version):
        assert client.patch(user_url(ROBERT, version=version), json={"nickname": ""}, headers=ADMIN).json()["nickname"] == ""

    @pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@acme.example", "jane@", "@acme.example", "jane doe@acme.example"])
    def test_email_must_be_a_real_address(self, client, version, email):
        assert_problem(client.patch(user_url(JANE, version=version), json={"email": email}, headers=ADMIN), 400, "body.email")

    def test_email_conflict(self, client, version):
        response = client.patch(user_url(JANE, version=version), json={"email": "ROBERT.OKAFOR@acme.example"}, headers=ADMIN)
        assert_problem(response, 409, ROBERT)

    def test_unknown_role(self, client, version):
        response = client.patch(user_url(JANE, version=version), json={"roleIds": [UNKNOWN_ID]}, headers=ADMIN)
        assert_problem(response, 422, "roleIds", UNKNOWN_ID)

    def test_wrong_types(self, client, version):
        assert_problem(client.patch(user_url(JANE, version=version), json={"firstName": 5}, headers=ADMIN), 400, "body.firstName", "expected string")
        assert_problem(client.patch(user_url(JANE, version=version), json={"firstName": None}, headers=ADMIN), 400, "body.firstName")
        assert_problem(client.patch(user_url(JANE, version=version), json={"roleIds": ["x"]}, headers=ADMIN), 400, "body.roleIds[0]", "ObjectId")
        assert_problem(client.patch(user_url(JANE, version=version), json=["firstName"], headers=ADMIN), 400, "body", "expected object")

    def test_unknown_field(self, client, version):
        response = client.patch(user_url(JANE, version=version), json={"status": "inactive"}, headers=ADMIN)
        assert_problem(response, 400, "unexpected field 'status'")

    def test_rejected_patch_changes_nothing(self, client, version):
        before = client.get(user_url(JANE), headers=ADMIN).json()
        client.patch(user_url(JANE, version=version), json={"firstName": "X", "roleIds": [UNKNOWN_ID]}, headers=ADMIN)
        assert client.get(user_url(JANE), headers=ADMIN).json() == before

    def test_unknown_user(self, client, version):
        assert_problem(client.patch(user_url(UNKNOWN_ID, version=version), json={"pod": "x"}, headers=ADMIN), 404)


class TestDelegates:
    def test_v1_sets_delegates(self, client):
        response = client.patch(user_url(JANE), json={"delegateIds": [ROBERT, MARIA]}, headers=ADMIN)
        assert [d["_id"] for d in response.json()["delegates"]] == [ROBERT, MARIA]
        robert = client.get(user_url(ROBERT), headers=ADMIN).json()
        assert JANE in [d["_id"] for d in robert["delegators"]]

    def test_v1_rejects_self_delegation(self, client):
        assert_problem(client.patch(user_url(JANE), json={"delegateIds": [JANE]}, headers=ADMIN), 422, "itself")

    def test_v1_rejects_unknown_delegate(self, client):
        assert_problem(client.patch(user_url(JANE), json={"delegateIds": [UNKNOWN_ID]}, headers=ADMIN), 422, UNKNOWN_ID)

    def test_v2_rejects_delegate_ids(self, client):
        response = client.patch(user_url(JANE, version="v2"), json={"delegateIds": [ROBERT]}, headers=ADMIN)
        assert_problem(response, 400, "delegateIds")


class TestDelete:
    def test_delete_returns_the_user_and_it_is_gone(self, client):
        before = client.get(user_url(JANE), headers=ADMIN).json()
        response = client.delete(user_url(JANE), headers=ADMIN)
        assert response.status_code == 200 and response.json() == before
        assert_problem(client.get(user_url(JANE), headers=ADMIN), 404)
        assert_problem(client.patch(user_url(JANE), json={"pod": "x"}, headers=ADMIN), 404)
        assert_problem(client.patch(user_url(JANE, version="v2"), json={"pod": "x"}, headers=ADMIN), 404)
        assert_problem(client.delete(user_url(JANE), headers=ADMIN), 404)
        listed = client.get(f"{users_url()}?{INTEGRATION}", headers=ADMIN).json()
        assert JANE not in [u["_id"] for u in listed]

    def test_delegations_are_removed(self, client):
        delegators = [d["_id"] for d in client.get(user_url(JANE), headers=ADMIN).json()["delegators"]]
        assert delegators
        client.delete(user_url(JANE), headers=ADMIN)
        for uid in delegators:
            assert JANE not in [d["_id"] for d in client.get(user_url(uid), headers=ADMIN).json()["delegates"]]

    def test_audit_parameters_are_accepted_and_validated(self, client):
        params = {"isForwarded": "true", "originalPrincipalClientId": "c", "originalPrincipalCustomerId": ACME,
                  "originalPrincipalUserId": ROBERT}
        assert client.delete(user_url(JANE), params=params, headers=ADMIN).status_code == 200
        assert_problem(client.delete(user_url(ROBERT), params={"isForwarded": "maybe"}, headers=ADMIN), 400, "isForwarded")


class TestAuth:
    OPERATIONS = [
        ("get", f"{users_url()}?{INTEGRATION}", None),
        ("get", f"{users_url()}/lookup", None),
        ("get", user_url(JANE), None),
        ("patch", user_url(JANE), {"pod": "x"}),
        ("patch", user_url(JANE, version="v2"), {"pod": "x"}),
        ("delete", user_url(JANE), None),
    ]

    @pytest.mark.parametrize("method,url,body", OPERATIONS)
    @pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YTpi"}, {"Authorization": "Bearer "}])
    def test_missing_or_unknown_token_is_401(self, client, method, url, body, headers):
        response = client.request(method, url, json=body, headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")

    @pytest.mark.parametrize("method,url,body", OPERATIONS)
    def test_token_of_another_customer_is_403(self, client, method, url, body):
        response = client.request(method, url, json=body, headers={"Authorization": "Bearer birch-admin-token"})
        assert_problem(response, 403, ACME)
        assert client.get(user_url(JANE), headers=ADMIN).status_code == 200  # nothing happened

    def test_unknown_customer_is_403_for_a_fixture_token(self, client):
        assert_problem(client.get(f"{users_url(UNKNOWN_ID)}?{INTEGRATION}", headers=ADMIN), 403)

    def test_user_token_acts_within_its_customer(self, client):
        assert client.get(user_url(ROBERT), headers=JANE_AUTH).status_code == 200
        assert_problem(client.get(f"{users_url(BIRCH)}?{INTEGRATION}", headers=JANE_AUTH), 403)


class TestAnyToken:
    @pytest.fixture
    def any_client(self, shared_store):
        from mockserver.app.build import ServerOptions, create_app

        shared_store.reset()
        with create_app(shared_store, ServerOptions(any_token=True)).test_client() as test_client:
            yield test_client
        shared_store.reset()

    def test_any_bearer_token_reaches_every_customer(self, any_client):
        headers = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"}
        assert any_client.get(f"{users_url(ACME)}?{INTEGRATION}", headers=headers).status_code == 200
        assert any_client.get(f"{users_url(BIRCH)}?{INTEGRATION}", headers=headers).status_code == 200

    def test_unknown_customer_is_404(self, any_client):
        assert_problem(any_client.get(f"{users_url(UNKNOWN_ID)}?{INTEGRATION}", headers={"Authorization": "Bearer x"}), 404, UNKNOWN_ID)

    def test_a_token_is_still_required(self, any_client):
        assert_problem(any_client.get(f"{users_url(ACME)}?{INTEGRATION}"), 401)

    def test_fixture_tokens_keep_their_binding(self, any_client):
        assert_problem(any_client.get(f"{users_url(BIRCH)}?{INTEGRATION}", headers=ADMIN), 403)
