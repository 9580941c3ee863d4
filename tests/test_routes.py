"""The route table built from the spec: the one place that says which route a path is on."""

from __future__ import annotations

from mockserver.admin import admin_spec
from mockserver.spec.routes import HTTP_METHODS, RouteTable
from mockserver.spec.schemas import load_spec
from tests.conftest import ACME, JANE, user_url, users_url

USERS = RouteTable(load_spec(None))


def test_literal_segments_win_over_templates():
    lookup = USERS.match(f"{users_url()}/lookup")
    assert lookup.template == "/api/v1/customers/{customerId}/users/lookup"
    assert lookup.allow == ("GET", "HEAD", "OPTIONS")
    assert USERS.operation_id("PATCH", f"{users_url()}/lookup") is None  # a 405, not update_user


def test_path_parameters_and_operations():
    route = USERS.match(user_url(JANE))
    assert route.template == "/api/v1/customers/{customerId}/users/{userId}"
    assert route.params(user_url(JANE)) == {"customerId": ACME, "userId": JANE}
    assert route.params(user_url(JANE) + "/") == {"customerId": ACME, "userId": JANE}
    assert set(route.operations) == {"GET", "PATCH", "DELETE"}
    assert route.allow == ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH")
    assert USERS.operation_id("GET", user_url(JANE)) == "get_user"


def test_paths_outside_the_spec_are_not_owned():
    for path in ("/", "/api/v1/customers", f"{user_url(JANE)}/extra", "/__admin/status", user_url(JANE) + "//"):
        assert not USERS.owns(path), path


def test_every_operation_of_the_spec_once_in_its_order():
    expected = [(method.upper(), template) for template, item in load_spec(None)["paths"].items()
                for method in item if method in HTTP_METHODS]
    assert [(method, route.template) for method, route, _ in USERS.operations()] == expected
    ids = [op["operationId"] for _, _, op in USERS.operations()]
    assert len(ids) == len(set(ids))


def test_a_prefix_is_part_of_every_template():
    admin = RouteTable(admin_spec(), prefix="/__admin")
    assert admin.match("/__admin/sessions/demo").params("/__admin/sessions/demo") == {"name": "demo"}
    assert admin.match("/sessions/demo") is None
