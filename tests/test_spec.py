"""The contract itself: valid OpenAPI, the six documented operations, the choices it declares."""

from __future__ import annotations

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from mockserver.spec.schemas import load_spec
from tests.conftest import ROOT

SPEC_FILE = ROOT / "openapi" / "users.yaml"
OPERATIONS = {
    ("get", "/api/v1/customers/{customerId}/users"): "list_users",
    ("get", "/api/v1/customers/{customerId}/users/lookup"): "lookup_user_identity",
    ("get", "/api/v1/customers/{customerId}/users/{userId}"): "get_user",
    ("patch", "/api/v1/customers/{customerId}/users/{userId}"): "update_user_v1",
    ("delete", "/api/v1/customers/{customerId}/users/{userId}"): "delete_user",
    ("patch", "/api/v2/customers/{customerId}/users/{userId}"): "update_user_v2",
}
USER_FIELDS = {
    "_id": True, "createdAt": True, "isSuperDelegate": False, "email": True, "firstName": True, "jobTitle": True,
    "lastName": True, "nickname": True, "updatedAt": True, "status": False, "seniority": False, "department": False,
    "office": False, "subdepartment": False, "pod": False, "groupIds": False, "superDelegatePermissions": False,
}
PATCH_FIELDS = {"firstName", "email", "jobTitle", "lastName", "nickname", "roleIds", "seniority", "department",
                "office", "subdepartment", "pod"}


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                yield method, path, operation


def deref(spec, node):
    if "$ref" in node:
        target = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        return deref(spec, target)
    return node


def test_spec_is_valid_openapi():
    spec_dict, base_uri = read_from_filename(str(SPEC_FILE))
    validate(spec_dict)


def test_exactly_the_six_documented_operations():
    spec = load_spec()
    assert {(m, p): op["operationId"] for m, p, op in operations(spec)} == OPERATIONS


def test_every_operation_requires_bearer_auth():
    spec = load_spec()
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    for _, _, operation in operations(spec):
        assert operation.get("security", spec["security"]) == [{"bearerAuth": []}]


def test_user_fields_types_and_required_flags():
    spec = load_spec()
    user = spec["components"]["schemas"]["User"]
    for field, required in USER_FIELDS.items():
        assert field in user["properties"], field
        assert (field in user["required"]) is required, field
    assert user["properties"]["groupIds"]["nullable"] is True
    assert user.get("additionalProperties", True) is not False  # responses stay open
    date = deref(spec, user["properties"]["createdAt"]["allOf"][0])
    assert date["format"] == "date-time" and date["example"] == "2022-08-12T20:44:48Z"


def test_ids_are_object_ids():
    spec = load_spec()
    assert spec["components"]["schemas"]["ObjectId"]["pattern"] == "^[0-9a-f]{24}$"


def test_patch_bodies_are_closed_and_v2_has_no_delegates():
    spec = load_spec()
    v1, v2 = (spec["components"]["schemas"][name] for name in ("UserUpdateV1", "UserUpdateV2"))
    assert v1["additionalProperties"] is False and v2["additionalProperties"] is False
    assert set(v1["properties"]) == PATCH_FIELDS | {"delegateIds"}
    assert set(v2["properties"]) == PATCH_FIELDS


def test_lost_enums_hold_the_sample_values():
    spec = load_spec()
    schemas = spec["components"]["schemas"]
    assert "cloud-assistant-cdr" in spec["components"]["parameters"]["Integration"]["schema"]["enum"]
    assert "active" in schemas["User"]["properties"]["status"]["enum"]
    assert "aderant" in schemas["Identity"]["properties"]["type"]["enum"]
    assert spec["components"]["parameters"]["Integration"]["required"] is True


def test_errors_are_declared_as_problems():
    spec = load_spec()
    for method, path, operation in operations(spec):
        codes = set(operation["responses"])
        assert {"400", "401", "403", "404"} <= codes, (method, path)
        if method == "patch":
            assert {"409", "413", "415", "422"} <= codes, (method, path)
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")):
                content = deref(spec, response)["content"]
                assert list(content) == ["application/problem+json"]


def test_links_lead_from_list_and_get_to_get_patch_and_delete():
    spec = load_spec()
    ops = {op["operationId"]: op for _, _, op in operations(spec)}
    list_targets = {link["operationId"] for link in ops["list_users"]["responses"]["200"]["links"].values()}
    get_targets = {link["operationId"] for link in ops["get_user"]["responses"]["200"]["links"].values()}
    assert list_targets == {"get_user", "update_user_v1", "update_user_v2", "delete_user"}
    assert get_targets == {"update_user_v1", "update_user_v2", "delete_user"}


def test_what_a_patch_may_change_is_read_from_the_patch_schemas():
    """The store, the restore and the checks all take the updatable fields from the PATCH schemas."""
    from mockserver.contract import checks
    from mockserver.remote import restore
    from mockserver.spec import schemas
    from mockserver.store.memory import UPDATABLE_FIELDS

    v1, v2 = schemas.updatable_fields("v1"), schemas.updatable_fields("v2")
    assert v1 - v2 == {"delegateIds"} and v2 <= v1
    assert UPDATABLE_FIELDS == v1 | v2
    assert schemas.updatable_relations("v1") == {"roleIds": "roles", "delegateIds": "delegates"}
    assert schemas.updatable_relations("v2") == {"roleIds": "roles"}
    assert set(restore.SCALAR_FIELDS) | set(restore.RELATIONS) == v1
    assert checks.STRING_FIELDS | set(checks.RELATION_FIELDS) == v1
    assert "email" in checks.STRING_FIELDS and "roleIds" not in checks.STRING_FIELDS
