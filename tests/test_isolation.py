"""Tenant isolation over the full matrix: every fixture token (and no token, and an unknown one) x
every customer (Acme, Birch, an unknown id) x every operation (and, for the operations on one
user, a user of Acme, a user of Birch and an unknown user) gives exactly the documented status:

- 401 without a token or with one the server does not know;
- 403 when the token may not touch the path's customer, whether that customer exists or not;
- 404 for a user that is not one of the path's customer (even if it is another customer's), and
  for ``lookup`` when the token is bound to no user or its user has no identity;
- 200 otherwise, and a 200 never shows anything of another customer.

A request that is not answered 200 changes nothing. The same holds in an isolated session
(``X-Mock-Session``), and with ``--any-token`` (where fixture tokens keep their binding and an
unknown customer is a 404).
"""

from __future__ import annotations

import itertools

import pytest

from mockserver.app.build import ServerOptions, create_app
from mockserver.store.memory import Store
from tests.conftest import ACME, BIRCH, INTEGRATION, JANE, MARIA, ROBERT, UNKNOWN_ID
from tests.support import PROBLEM

ACME_USER = "6500000000000000000001a5"  # bound to no token
BIRCH_USER = "6500000000000000000002b2"
CUSTOMERS = {"acme": ACME, "birch": BIRCH, "unknown": UNKNOWN_ID}
USERS = {"acme-user": ACME_USER, "birch-user": BIRCH_USER, "unknown-user": UNKNOWN_ID}
USER_OF = {ACME_USER: ACME, BIRCH_USER: BIRCH}

# token -> (customers it may touch, the user it is bound to, whether that user has an identity)
TOKENS = {
    "acme-admin-token": ({ACME}, None, False),
    "jane-token": ({ACME}, JANE, True),
    "robert-token": ({ACME}, ROBERT, True),
    "maria-token": ({ACME}, MARIA, False),
    "birch-admin-token": ({BIRCH}, None, False),
    "multi-admin-token": ({ACME, BIRCH}, None, False),
    "no-such-token": (None, None, False),  # unknown: 401
    None: (None, None, False),  # no Authorization header: 401
}
USER_OPERATIONS = ("get", "patch-v1", "patch-v2", "delete")


def _cases():
    for token, customer in itertools.product(TOKENS, CUSTOMERS):
        yield token, customer, "list", None
        yield token, customer, "lookup", None
        for operation, user in itertools.product(USER_OPERATIONS, USERS):
            yield token, customer, operation, user


CASES = list(_cases())


def _id(case) -> str:
    token, customer, operation, user = case
    return "-".join(part for part in (token or "no-token", customer, operation, user) if part)


def expected_status(token, customer_id, operation, user_id, *, any_token=False) -> int:
    customers, bound_user, has_identity = TOKENS.get(token, (None, None, False))
    if token is None:
        return 401
    if customers is None:  # a token the fixtures do not define
        if not any_token:
            return 401
        if customer_id == UNKNOWN_ID:
            return 404
    elif customer_id not in customers:
        return 403
    if operation == "list":
        return 200
    if operation == "lookup":
        return 200 if bound_user is not None and has_identity else 404
    return 200 if USER_OF.get(user_id) == customer_id else 404


def request(client, token, customer_id, operation, user_id, extra_headers=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(extra_headers or {})
    base = f"/api/v1/customers/{customer_id}/users"
    if operation == "list":
        return client.get(f"{base}?{INTEGRATION}", headers=headers)
    if operation == "lookup":
        return client.get(f"{base}/lookup", headers=headers)
    if operation == "get":
        return client.get(f"{base}/{user_id}", headers=headers)
    if operation == "delete":
        return client.delete(f"{base}/{user_id}", headers=headers)
    version = "v1" if operation == "patch-v1" else "v2"
    return client.patch(f"/api/{version}/customers/{customer_id}/users/{user_id}", json={"jobTitle": "Isolated"},
                        headers=headers)


def check_answer(response, token, customer_id, operation, user_id, expected) -> None:
    assert response.status_code == expected, (token, customer_id, operation, user_id, response.text)
    if expected != 200:
        assert response.headers["content-type"].startswith(PROBLEM)
        if expected == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
        return
    body = response.json()
    if operation == "list":
        assert body and all(user["customer"]["_id"] == customer_id for user in body)
        assert {user["_id"] for user in body}.isdisjoint(u for u, c in USER_OF.items() if c != customer_id)
    elif operation == "lookup":
        assert body["customerId"] == customer_id
    else:
        assert body["_id"] == user_id and body["customer"]["_id"] == customer_id


@pytest.mark.parametrize("case", CASES, ids=[_id(case) for case in CASES])
def test_matrix(client, shared_store, case):
    token, customer, operation, user = case
    customer_id, user_id = CUSTOMERS[customer], USERS.get(user)
    expected = expected_status(token, customer_id, operation, user_id)
    before = shared_store.snapshot()
    response = request(client, token, customer_id, operation, user_id)
    check_answer(response, token, customer_id, operation, user_id, expected)
    if expected != 200 or operation in ("list", "lookup", "get"):
        assert shared_store.snapshot() == before  # nothing changed


def test_the_matrix_covers_every_status():
    statuses = {expected_status(t, CUSTOMERS[c], o, USERS.get(u)) for t, c, o, u in CASES}
    assert statuses == {200, 401, 403, 404}
    assert len(CASES) == len(TOKENS) * len(CUSTOMERS) * (2 + len(USER_OPERATIONS) * len(USERS))


def test_the_matrix_in_a_session(client, shared_store):
    """Isolated sessions fork the state, not the tokens' bindings."""
    before = shared_store.snapshot()
    for number, case in enumerate(CASES):
        token, customer, operation, user = case
        customer_id, user_id = CUSTOMERS[customer], USERS.get(user)
        expected = expected_status(token, customer_id, operation, user_id)
        # A fresh session per case, so a DELETE in one case does not change the next one's answer.
        response = request(client, token, customer_id, operation, user_id, {"X-Mock-Session": f"iso-{number}"})
        check_answer(response, token, customer_id, operation, user_id, expected)
    assert shared_store.snapshot() == before  # sessions never touch the default state


@pytest.fixture(scope="module")
def any_token_app(seed_document):
    store = Store(seed_document)
    return create_app(store, ServerOptions(any_token=True)), store


ANY_TOKEN_CASES = [case for case in CASES if case[0] in ("jane-token", "birch-admin-token", "multi-admin-token")]
ANY_TOKEN_CASES += [("some-jwt-the-app-sends", *rest) for (token, *rest) in CASES if token == "acme-admin-token"]
ANY_TOKEN_CASES += [(None, *rest) for (token, *rest) in CASES if token == "acme-admin-token"]


@pytest.mark.parametrize("case", ANY_TOKEN_CASES, ids=[_id(case) for case in ANY_TOKEN_CASES])
def test_matrix_with_any_token(any_token_app, case):
    app, store = any_token_app
    store.reset()
    token, customer, operation, user = case
    customer_id, user_id = CUSTOMERS[customer], USERS.get(user)
    expected = expected_status(token, customer_id, operation, user_id, any_token=True)
    with app.test_client() as client:
        response = request(client, token, customer_id, operation, user_id)
    check_answer(response, token, customer_id, operation, user_id, expected)
