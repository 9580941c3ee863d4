"""Fixture loading and validation: no HTTP."""

from __future__ import annotations

import copy
import json

import pytest

from mockserver.fixtures.document import FixtureError, FixtureLoader
from tests.conftest import ACME, ACME_FILE, BIRCH, JANE, ROBERT, UNKNOWN_ID


def problems_of(loader, *paths) -> list[str]:
    with pytest.raises(FixtureError) as caught:
        loader.load_files(paths)
    return caught.value.problems


def acme_users(document):
    return document["customers"][0]["users"]


def test_bundled_fixtures_are_valid_and_rich(seed):
    acme = seed["customers"][0]
    users = acme["users"]
    assert acme["_id"] == ACME and len(users) >= 25
    assert len({u["department"] for u in users}) >= 3
    assert len({u["office"] for u in users}) >= 3
    assert len({u["pod"] for u in users}) >= 3
    assert len({u["seniority"] for u in users}) >= 3
    assert sum(1 for u in users if u["delegateIds"]) >= 3
    assert sum(1 for u in users if u["isSuperDelegate"]) >= 1
    assert sum(1 for u in users if u["status"] == "inactive") >= 1
    assert all(i["type"] == "aderant" for u in users for i in u["identities"])
    assert acme["roles"] and acme["groups"]
    tokens = {t["token"]: t for t in seed["tokens"]}
    assert tokens["acme-admin-token"].get("userId") is None
    assert sum(1 for t in seed["tokens"] if ACME in t["customerIds"] and t.get("userId")) >= 2
    assert any(c["_id"] == BIRCH for c in seed["customers"])


def test_several_files_merge(loader, seed, write_json):
    acme = {"customers": [seed["customers"][0]], "tokens": [t for t in seed["tokens"] if t["customerIds"] == [ACME]]}
    birch = {"customers": [seed["customers"][1]], "tokens": [t for t in seed["tokens"] if BIRCH in t["customerIds"]]}
    merged = loader.load_files([write_json("a.json", acme), write_json("b.json", birch)])
    assert [c["_id"] for c in merged["customers"]] == [ACME, BIRCH]


def test_same_customer_in_two_files_is_a_duplicate(loader, write_json):
    document = json.loads(ACME_FILE.read_text())
    problems = problems_of(loader, write_json("a.json", document), write_json("b.json", {"customers": document["customers"]}))
    assert any("b.json: $.customers[0]._id: duplicate customer id" in p for p in problems)


def test_malformed_json_gives_line_and_column(loader, write_json):
    path = write_json("bad.json", '{\n  "customers": [\n    {"_id": }\n  ]\n}')
    [problem] = problems_of(loader, path)
    assert problem.startswith(f"{path}: line 3 column 13: invalid JSON")


def test_empty_file(loader, write_json):
    [problem] = problems_of(loader, write_json("empty.json", "  \n"))
    assert "empty" in problem


def test_missing_file_and_directory(loader, tmp_path):
    problems = problems_of(loader, tmp_path / "nope.json", tmp_path)
    assert any("nope.json: cannot read the file" in p for p in problems)
    assert any("not a file" in p for p in problems)


def test_not_utf8(loader, tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"customers": [], "x": "\xe9"}')
    [problem] = problems_of(loader, path)
    assert "not UTF-8" in problem


def test_duplicate_keys(loader, write_json):
    [problem] = problems_of(loader, write_json("dup.json", '{"customers": [], "customers": []}'))
    assert "duplicate key 'customers'" in problem


def test_file_over_the_size_limit_is_refused_without_reading(write_json):
    path = write_json("big.json", {"customers": [], "padding": "x" * 5000})
    [problem] = problems_of(FixtureLoader(max_bytes=1000), path)
    assert "over the limit" in problem and "MiB" in problem


def test_every_schema_violation_is_listed_with_its_json_path(loader, seed, write_json):
    users = acme_users(seed)
    users[0]["email"] = "not-an-email"
    users[1]["_id"] = "XYZ"
    del users[2]["firstName"]
    users[3]["status"] = "on-holiday"
    users[4]["createdAt"] = "yesterday"
    users[5]["favouriteColour"] = "green"
    users[6]["identities"] = [{"type": "aderant"}]
    problems = problems_of(loader, write_json("acme.json", seed))
    text = "\n".join(problems)
    for expected in (
        "$.customers[0].users[0].email: 'not-an-email' is not a valid email",
        "$.customers[0].users[1]._id: 'XYZ' is not an ObjectId",
        "$.customers[0].users[2]: missing required field 'firstName'",
        "$.customers[0].users[3].status: 'on-holiday' is not one of 'active', 'inactive'",
        "$.customers[0].users[4].createdAt: 'yesterday' is not a valid date-time",
        "$.customers[0].users[5]: unexpected field 'favouriteColour'",
        "$.customers[0].users[6].identities[0]: missing required field 'value'",
    ):
        assert expected in text, f"missing: {expected}\n{text}"
    assert all("acme.json: $." in p for p in problems)


def test_reference_problems_are_all_listed(loader, seed, write_json):
    users = acme_users(seed)
    users[0]["roleIds"] = [UNKNOWN_ID]
    users[1]["groupIds"] = [UNKNOWN_ID]
    users[2]["delegateIds"] = [UNKNOWN_ID]
    users[3]["delegateIds"] = [users[3]["_id"]]
    users[4]["email"] = users[5]["email"].upper()
    users[6]["_id"] = users[7]["_id"]
    users[8]["updatedAt"] = "2000-01-01T00:00:00Z"
    seed["tokens"].append({"token": "ghost", "customerIds": [UNKNOWN_ID]})
    seed["tokens"].append({"token": "lost", "customerIds": [ACME], "userId": UNKNOWN_ID})
    seed["tokens"].append({"token": "acme-admin-token", "customerIds": [ACME]})
    problems = problems_of(loader, write_json("acme.json", seed))
    text = "\n".join(problems)
    for expected in (
        f"users[0].roleIds[0]: {UNKNOWN_ID} is not a role of customer {ACME}",
        f"users[1].groupIds[0]: {UNKNOWN_ID} is not a group of customer {ACME}",
        f"users[2].delegateIds[0]: {UNKNOWN_ID} is not a user of customer {ACME}",
        "users[3].delegateIds[0]: a user cannot delegate to itself",
        "is already used by",
        "duplicate user id",
        "users[8].updatedAt: 2000-01-01T00:00:00Z is before createdAt",
        f"customerIds[0]: {UNKNOWN_ID} is not a customer of the fixtures",
        f"userId: {UNKNOWN_ID} is not a user of the token's customers",
        "the same token is also defined",
    ):
        assert expected in text, f"missing: {expected}\n{text}"


def test_token_user_must_belong_to_the_tokens_customers(loader, seed, write_json):
    seed["tokens"].append({"token": "cross", "customerIds": [BIRCH], "userId": JANE})
    [problem] = problems_of(loader, write_json("acme.json", seed))
    assert "userId" in problem and JANE in problem


def test_wrong_top_level_shapes(loader, write_json):
    assert "expected object, got array" in problems_of(loader, write_json("a.json", []))[0]
    assert "missing required field 'customers'" in problems_of(loader, write_json("b.json", {"tokens": []}))[0]


def test_error_message_lists_everything(loader, seed, write_json):
    acme_users(seed)[0]["email"] = "x"
    acme_users(seed)[1]["roleIds"] = [UNKNOWN_ID]
    with pytest.raises(FixtureError) as caught:
        loader.load_files([write_json("acme.json", seed)])
    message = str(caught.value)
    assert message.startswith("2 problems in the fixtures:")
    assert message.count("\n  - ") == 2


def test_load_document_validates_like_files(loader, seed):
    broken = copy.deepcopy(seed)
    acme_users(broken)[0]["delegateIds"] = [ROBERT, ROBERT, UNKNOWN_ID]
    with pytest.raises(FixtureError) as caught:
        loader.load_document(broken)
    assert caught.value.problems == [f"<body>: $.customers[0].users[0].delegateIds[2]: {UNKNOWN_ID} is not a user of customer {ACME}"]
